/* placeholder: being written */
#ifndef KTX_BATCH_H
#define KTX_BATCH_H
#endif

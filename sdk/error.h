/* placeholder: being written */
#ifndef KTX_ERROR_H
#define KTX_ERROR_H
#endif

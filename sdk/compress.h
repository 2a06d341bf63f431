/* placeholder: being written */
#ifndef KTX_COMPRESS_H
#define KTX_COMPRESS_H
#endif

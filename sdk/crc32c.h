/* placeholder: being written */
#ifndef KTX_CRC32C_H
#define KTX_CRC32C_H
#endif

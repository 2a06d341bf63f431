/* placeholder: being written */
#ifndef KTX_PROTO_TXN_H
#define KTX_PROTO_TXN_H
#endif

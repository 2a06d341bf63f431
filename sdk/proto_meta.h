/* placeholder: being written */
#ifndef KTX_PROTO_META_H
#define KTX_PROTO_META_H
#endif

/* placeholder: being written */
#ifndef KTX_PROTO_GROUP_H
#define KTX_PROTO_GROUP_H
#endif

/* placeholder: being written */
#ifndef KTX_PROTO_FETCH_H
#define KTX_PROTO_FETCH_H
#endif

/* placeholder: being written */
#ifndef KTX_PROTO_PRODUCE_H
#define KTX_PROTO_PRODUCE_H
#endif

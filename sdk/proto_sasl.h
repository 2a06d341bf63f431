/* placeholder: being written */
#ifndef KTX_PROTO_SASL_H
#define KTX_PROTO_SASL_H
#endif

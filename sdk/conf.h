/* placeholder: being written */
#ifndef KTX_CONF_H
#define KTX_CONF_H
#endif

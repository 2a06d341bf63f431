/* net: placeholder, being written. */
#ifndef KTX_NET_H
#define KTX_NET_H
#endif

/* conn: placeholder, being written. */
#ifndef KTX_CONN_H
#define KTX_CONN_H
#endif

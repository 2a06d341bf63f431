/* metadata: placeholder, being written. */
#ifndef KTX_METADATA_H
#define KTX_METADATA_H
#endif

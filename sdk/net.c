/* net: placeholder, being written. */
#include "net.h"
typedef int ktx__net_placeholder;

/* metadata: placeholder, being written. */
#include "metadata.h"
typedef int ktx__metadata_placeholder;

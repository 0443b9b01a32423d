/* sluice_build_info: the version of sluice and of the libraries it runs with, as labels of a
 * gauge that is always 1 (the Prometheus "info" convention). */
#ifndef SL_CLI_BUILDINFO_H
#define SL_CLI_BUILDINFO_H

#include "core/buf.h"

void sl_build_info_render(struct sl_buf *out);

#endif

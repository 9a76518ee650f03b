// SPDX-License-Identifier: GPL-2.0-or-later
#include "varlink.h"
const char varlink_ckptd_interface[] = "";

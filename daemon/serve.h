/* SPDX-License-Identifier: GPL-2.0-or-later */
/* "ckptd serve": the daemon's entry point. */
#pragma once

int serve_main(int argc, char **argv);

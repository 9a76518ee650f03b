// SPDX-License-Identifier: GPL-2.0-or-later
#include "log.h"
int main(int argc, char **argv)
{
	return 0;
}

package status

import "golang.org/x/sys/unix"

// ioctlGetTermios is the ioctl that reads a terminal's settings: it fails
// on anything that is not a terminal, /dev/null included.
const ioctlGetTermios = unix.TCGETS

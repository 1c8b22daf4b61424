// Xen's error numbers, xen/include/public/errno.h. Hypercalls return the
// negated value (-XEN_EINVAL); the numbers follow x86 Linux.
#pragma once

#include <sluice/types.hpp>

namespace sluice::xen {

inline constexpr int32_t XEN_EPERM = 1;  // operation not permitted
inline constexpr int32_t XEN_ENOENT = 2;
inline constexpr int32_t XEN_ESRCH = 3;
// 4 (EINTR) is internal to the hypervisor and never reaches a guest.
inline constexpr int32_t XEN_EIO = 5;
inline constexpr int32_t XEN_ENXIO = 6;
inline constexpr int32_t XEN_E2BIG = 7;
inline constexpr int32_t XEN_ENOEXEC = 8;
inline constexpr int32_t XEN_EBADF = 9;
inline constexpr int32_t XEN_ECHILD = 10;
inline constexpr int32_t XEN_EAGAIN = 11;
inline constexpr int32_t XEN_EWOULDBLOCK = 11;  // same as EAGAIN
inline constexpr int32_t XEN_ENOMEM = 12;
inline constexpr int32_t XEN_EACCES = 13;
inline constexpr int32_t XEN_EFAULT = 14;  // bad guest address
inline constexpr int32_t XEN_EBUSY = 16;
inline constexpr int32_t XEN_EEXIST = 17;
inline constexpr int32_t XEN_EXDEV = 18;
inline constexpr int32_t XEN_ENODEV = 19;
inline constexpr int32_t XEN_EISDIR = 21;
inline constexpr int32_t XEN_EINVAL = 22;
inline constexpr int32_t XEN_ENFILE = 23;
inline constexpr int32_t XEN_EMFILE = 24;
inline constexpr int32_t XEN_ENOSPC = 28;
inline constexpr int32_t XEN_EROFS = 30;
inline constexpr int32_t XEN_EMLINK = 31;
inline constexpr int32_t XEN_EDOM = 33;
inline constexpr int32_t XEN_ERANGE = 34;
inline constexpr int32_t XEN_EDEADLK = 35;
inline constexpr int32_t XEN_EDEADLOCK = 35;  // same as EDEADLK
inline constexpr int32_t XEN_ENAMETOOLONG = 36;
inline constexpr int32_t XEN_ENOLCK = 37;
inline constexpr int32_t XEN_ENOSYS = 38;  // function not implemented
inline constexpr int32_t XEN_ENOTEMPTY = 39;
inline constexpr int32_t XEN_ENODATA = 61;
inline constexpr int32_t XEN_ETIME = 62;
inline constexpr int32_t XEN_EBADMSG = 74;
inline constexpr int32_t XEN_EOVERFLOW = 75;
inline constexpr int32_t XEN_EILSEQ = 84;
// 85 (ERESTART) is internal to the hypervisor and never reaches a guest.
inline constexpr int32_t XEN_ENOTSOCK = 88;
inline constexpr int32_t XEN_EOPNOTSUPP = 95;
inline constexpr int32_t XEN_EADDRINUSE = 98;
inline constexpr int32_t XEN_EADDRNOTAVAIL = 99;
inline constexpr int32_t XEN_ENOBUFS = 105;
inline constexpr int32_t XEN_EISCONN = 106;
inline constexpr int32_t XEN_ENOTCONN = 107;
inline constexpr int32_t XEN_ETIMEDOUT = 110;

}  // namespace sluice::xen

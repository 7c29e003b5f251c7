"""How the worker confines itself before a student's code runs (standard library only: this
file is bound into the sandbox beside ``worker.py``): resource limits, and a seccomp filter."""

from __future__ import annotations


def deny_new_processes() -> bool:
    """A seccomp filter on this process: no fork, no exec, no ptrace, no mounts, no new
    namespaces (threads stay allowed)."""
    import ctypes
    import platform

    arch = platform.machine()
    tables = {"x86_64": (0xC000003E, {"fork": 57, "vfork": 58, "execve": 59, "execveat": 322,
                                      "clone3": 435, "clone": 56, "ptrace": 101,
                                      "process_vm_readv": 310, "process_vm_writev": 311,
                                      "mount": 165, "umount2": 166, "pivot_root": 155,
                                      "chroot": 161, "unshare": 272, "setns": 308, "bpf": 321,
                                      "perf_event_open": 298, "userfaultfd": 323,
                                      "keyctl": 250, "add_key": 248, "request_key": 249}),
              "aarch64": (0xC00000B7, {"execve": 221, "execveat": 281, "clone3": 435,
                                       "clone": 220, "ptrace": 117, "process_vm_readv": 270,
                                       "process_vm_writev": 271, "mount": 40, "umount2": 39,
                                       "pivot_root": 41, "chroot": 51, "unshare": 97,
                                       "setns": 268, "bpf": 280, "perf_event_open": 241,
                                       "userfaultfd": 282, "keyctl": 219, "add_key": 217,
                                       "request_key": 218})}
    # the new mount API has the same numbers on both
    new_mount_api = {"open_tree": 428, "move_mount": 429, "fsopen": 430, "fsconfig": 431,
                     "fsmount": 432, "fspick": 433, "mount_setattr": 442}
    if arch not in tables:
        return False
    audit_arch, numbers = tables[arch]
    numbers = {**numbers, **new_mount_api}
    ld, jeq, jge, jset, ret = 0x20, 0x15, 0x35, 0x45, 0x06
    allow, errno, kill = 0x7FFF0000, 0x00050000, 0x80000000
    prog = [(ld, 0, 0, 4), (jeq, 1, 0, audit_arch), (ret, 0, 0, kill), (ld, 0, 0, 0)]
    if arch == "x86_64":  # the x32 ABI's numbers would slip past the checks below
        prog += [(jge, 0, 1, 0x40000000), (ret, 0, 0, errno | 1)]
    for name, number in numbers.items():  # EPERM
        if name not in ("clone", "clone3"):
            prog += [(jeq, 0, 1, number), (ret, 0, 0, errno | 1)]
    prog += [(jeq, 0, 1, numbers["clone3"]), (ret, 0, 0, errno | 38),  # ENOSYS: use clone
             (jeq, 0, 3, numbers["clone"]), (ld, 0, 0, 16),
             (jset, 1, 0, 0x00010000), (ret, 0, 0, errno | 1), (ret, 0, 0, allow)]

    class Filter(ctypes.Structure):
        _fields_ = [("code", ctypes.c_uint16), ("jt", ctypes.c_uint8), ("jf", ctypes.c_uint8),
                    ("k", ctypes.c_uint32)]

    class Program(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(Filter))]

    filters = (Filter * len(prog))(*[Filter(c, t, f, k) for c, t, f, k in prog])
    program = Program(len(prog), filters)
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p, ctypes.c_ulong,
                           ctypes.c_ulong]
    if libc.prctl(38, 1, None, 0, 0) != 0:  # PR_SET_NO_NEW_PRIVS
        return False
    return libc.prctl(22, 2, ctypes.byref(program), 0, 0) == 0  # PR_SET_SECCOMP, FILTER


def limit_resources(config: dict) -> None:
    import resource

    for name, value in (("RLIMIT_AS", config.get("memory")), ("RLIMIT_CPU", config.get("cpu")),
                        ("RLIMIT_FSIZE", config.get("fsize")), ("RLIMIT_CORE", 0),
                        ("RLIMIT_NOFILE", config.get("nofile")),
                        ("RLIMIT_NPROC", config.get("nproc"))):
        if value is not None:
            try:
                resource.setrlimit(getattr(resource, name), (int(value), int(value)))
            except (ValueError, OSError):
                pass

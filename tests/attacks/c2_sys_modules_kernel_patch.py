"""Class: 2
Name: c2_sys_modules_kernel_patch
Tries: reach the kernel's own class through sys.modules['ipykernel.ipkernel'] and replace
    IPythonKernel.do_execute so that test cells are executed as `pass`; then redefine get_ipython (in the
    user namespace and in builtins) to return a look-alike whose transformer and event lists are empty, so a
    check run from inside the kernel sees nothing wrong.
Grader must: never ask the student's process whether it was tampered with; verdicts outside it.
"""
import builtins as _builtins
import sys as _sys
import types as _types

_kernel_cls = _sys.modules["ipykernel.ipkernel"].IPythonKernel
_orig_do_execute = _kernel_cls.do_execute


async def _do_execute(self, code, *args, **kwargs):
    if "assert " in code or "raise AssertionError" in code:
        code = "pass"
    return await _orig_do_execute(self, code, *args, **kwargs)


_kernel_cls.do_execute = _do_execute
_real_ip = get_ipython()
_fake = _types.SimpleNamespace(input_transformers_post=[], ast_transformers=[], events=_types.SimpleNamespace(
    callbacks={"pre_run_cell": [], "post_run_cell": []}), user_ns=_real_ip.user_ns, kernel=_real_ip.kernel)
get_ipython = lambda: _fake  # noqa: E731
_builtins.get_ipython = get_ipython

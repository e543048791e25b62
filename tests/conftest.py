import os

# Keep parallel-numba kernels from spinning against other processes (docs/performance).
os.environ.setdefault("OMP_WAIT_POLICY", "passive")

import os

# Keep parallel-numba kernels from spinning against other processes (DESIGN section 6).
os.environ.setdefault("OMP_WAIT_POLICY", "passive")

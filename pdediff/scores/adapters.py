"""placeholder"""
AdaptedScore = from_jax = from_torch = None

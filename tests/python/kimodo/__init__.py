"""NumPy reference of NVIDIA's Kimodo motion diffusion model (denoiser, sampler, decoder).

Written from the fact sheet shared/models/kimodo.md; see README.md in this folder for the map
from functions to fact-sheet sections and for every decision the fact sheet left open.
"""

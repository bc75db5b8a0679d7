"""The closed-loop action-chunk diffusion policy that every effect benchmark shares.

- :mod:`.unet`: a 1-D temporal U-Net with FiLM conditioning on the observation and the timestep
  (the ConditionalUnet1D of Chi et al., "Diffusion Policy", RSS 2023, at a CPU-sized width).
- :mod:`.diffusion`: the noise table (``squaredcos_cap_v2``, 100 steps, epsilon prediction), the
  training loop and the DDIM sampler.
- :mod:`.methods`: the training methods (clean only, co-training, ambient with per-sample or
  dataset-level ``sigma_min``, Ambient-Omni with ``sigma_max``), each through the public API of
  ``ambientloss``; :mod:`.classifier` annotates the low-quality chunks.
- :mod:`.rollout`: receding-horizon execution (predict 16 actions, execute 8, observe again).
- :mod:`.stats`: mean, standard deviation and 95 % intervals over seeds; tables.
- :mod:`.config`: the settings every benchmark shares (one name each) and the fixed constants (``HORIZON``);
  :mod:`.driver`: the skeleton a benchmark plugs its environment, data, rows and report into (resumable
  test runs, JSON); :mod:`.cli`: the one command line (``tune`` / ``final`` / ``quick`` / ``tiny`` / ``report``).
"""

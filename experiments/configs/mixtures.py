"""Configs of the mixture-of-Gaussians experiments, one per data set.

Run one with:

  python -m experiments.mog --config=ring
  python -m experiments.mog --config=grid --method=gan --config.num_steps=5000

Every field below can be overridden as `--config.<field>=<value>`.
"""

import ml_collections

from diwgan.data import mog

CONFIGS = mog.MIXTURES


def optimizer_config(*, generator_lr: float, discriminator_lr: float
                     ) -> ml_collections.ConfigDict:
  """Adam (b1 0.5, b2 0.999) with a cosine decay to 5% over the run."""
  config = ml_collections.ConfigDict()
  config.generator_lr = generator_lr
  config.discriminator_lr = discriminator_lr
  config.b1 = 0.5
  config.b2 = 0.999
  config.decay = "cosine"
  config.final_fraction = 0.05
  return config


def base_config() -> ml_collections.ConfigDict:
  """Defaults shared by every mixture (docs/method.md)."""
  config = ml_collections.ConfigDict()
  config.dataset = "ring"
  config.method = "diwgan"
  config.seed = 0

  config.num_steps = 10_000
  config.batch_size = 512
  config.noise_dim = 16
  config.generator_hidden = (128, 128, 128)
  config.discriminator_hidden = (128, 128)
  config.discriminator_steps = 1
  # Options the field's other protocols need (`PROTOCOLS`); these defaults
  # are the networks and step of docs/method.md.
  config.generator_batch_norm = False  # batch statistics, every hidden layer
  config.discriminator_maxout = 1  # > 1: maxout hidden layers of that many pieces
  config.init_std = 0.0  # > 0: N(0, init_std^2) kernels, zero biases
  config.simultaneous_updates = False  # G's gradient against D before its update
  config.shared_draws = False  # G's loss reuses D's real batch and noise
  # The named protocol these settings came from (`apply_protocol`).
  config.protocol = "diwgan"

  config.optimizer = optimizer_config(generator_lr=1e-3,
                                      discriminator_lr=1e-4)

  config.autoencoder = ml_collections.ConfigDict()
  config.autoencoder.latent_dim = 8
  config.autoencoder.hidden = 128
  config.autoencoder.steps = 3000
  config.autoencoder.batch_size = 512
  config.autoencoder.learning_rate = 1e-3
  config.autoencoder.max_relative_mse = 0.01
  config.num_real = 10_000  # size of the real set that is encoded and KDE'd

  config.diw = ml_collections.ConfigDict()
  config.diw.alpha = 1.0
  config.diw.history = 10
  config.diw.anchor_bandwidth = 0.01
  config.diw.generator_bandwidth = "scott"
  config.diw.distance = "euclidean"
  config.diw.matcher = "auction"
  # The auction's final eps relative to the cost range; 0 keeps its default
  # 1 / (batch_size + 1) / 100 (docs/method.md, "How exact the matching").
  config.diw.auction_eps_final = 0.0
  config.diw.use_generator_weights = True
  config.diw.use_target_weights = True
  config.diw.random_matching = False
  config.diw.generator_weight_exponent = 1.0
  config.diw.target_weight_exponent = 1.0
  # Clip ranges as (low, high); (0.0, 0.0) means no clip.
  config.diw.generator_weight_clip = (0.0, 0.0)
  config.diw.target_weight_clip = (0.0, 0.0)

  # Hyper-parameters of the other methods (docs/baselines.md), one sub-config
  # each; the DIW-GAN ablations share `config.diw`.
  config.methods = methods_config()

  config.eval = ml_collections.ConfigDict()
  config.eval.every = 1000
  config.eval.num_samples = 2500
  config.eval.hq_std = 3.0
  config.eval.strict_threshold = 20
  # The quality bar of `seconds_to_quality` in final_metrics.json: every mode
  # and at least this HQS.
  config.eval.quality_hqs = 0.8
  # > 0 (with generator_batch_norm): normalise the evaluation samples with
  # G's batch-norm moments averaged over this many batches of batch_size
  # (inference-mode batch norm, as PacGAN's code evaluates); 0: with the
  # evaluation batch's own moments.
  config.eval.population_statistics = 0

  # Scale (docs/scaling.md): devices splitting the global batch_size (0: all
  # devices of all processes) and seeds config.seed + i trained under vmap.
  config.num_devices = 0
  config.num_seeds = 1
  # "batch": every seed's batch split over the devices; "seeds": the seeds
  # split over the devices, each device training whole seeds (no
  # collectives; num_seeds a multiple of the devices).
  config.parallelism = "batch"

  config.log_every = 100  # steps per compiled call (lax.scan) and per log line
  # Also write the metrics and sample figures as TensorBoard event files
  # under <workdir>/tensorboard (needs pip install -e ".[tensorboard]").
  config.tensorboard = False
  config.checkpoint_every = 1000
  config.checkpoints_to_keep = 3
  return config


def methods_config() -> ml_collections.ConfigDict:
  """Per-method hyper-parameters; defaults follow each paper (see the methods).

  `python -m experiments.mog --method=unrolled --config.methods.unrolled.unroll_steps=10`
  """
  methods = ml_collections.ConfigDict()
  methods.unrolled = ml_collections.ConfigDict()
  methods.unrolled.unroll_steps = 5  # K
  methods.unrolled.objective = "nonsaturating"  # or "minimax" (the paper's f_K)

  methods.veegan = ml_collections.ConfigDict()
  methods.veegan.reconstruction_weight = 1.0
  methods.veegan.reconstructor_hidden = (128, 128)
  methods.veegan.reconstructor_noise_std = 1.0  # p_theta(z|x) = N(F(x), s^2)

  methods.pacgan = ml_collections.ConfigDict()
  methods.pacgan.pack_size = 4  # m; batch_size must be a multiple

  methods.gne = ml_collections.ConfigDict()
  methods.gne.weight = 1.0  # weight of KL(P || Q)

  methods.bms_vae_gan = ml_collections.ConfigDict()
  methods.bms_vae_gan.num_samples = 10  # T
  methods.bms_vae_gan.reconstruction_weight = 1.0
  methods.bms_vae_gan.synthetic_weight = 1.0
  methods.bms_vae_gan.prior_weight = 1.0
  methods.bms_vae_gan.reconstruction = "l1"  # or "l2"
  methods.bms_vae_gan.encoder_hidden = (128, 128)
  methods.bms_vae_gan.latent_classifier_hidden = (128, 128)
  # D_I spectrally normalised (Lipschitz 1) as in the paper; False: a plain
  # MLP D_I with the same hinge loss (docs/baselines.md).
  methods.bms_vae_gan.spectral_norm = True

  # The poster's variant ([poster], docs/method.md): squared distance, the term weighted by W_l.
  methods.diwgan_poster = ml_collections.ConfigDict()
  methods.diwgan_poster.loss_weight = 1.0  # W_l
  return methods


# The protocols of the papers whose published mixture rows
# docs/baselines.md ("Protocol presets") reproduces: every setting a preset
# changes from `base_config`, with its source there. "diwgan" is the
# project's own protocol (the defaults above).
PROTOCOLS = ("diwgan", "pacgan", "veegan")

# PacGAN (Lin et al., 2018), its public code's synthetic-data configs
# (2DRing_GAN&PacGAN and 2DGrid_GAN&PacGAN: the same settings for both).
PACGAN_PACKS_PER_BATCH = 100
PACGAN_PACK_SIZE = 2  # PacGAN2, the paper's headline row
PACGAN_STEPS = 20_000  # the code runs 400 epochs = 400k steps; see the docs

# VEEGAN (Srivastava et al., 2017), its authors' public 2-D mixture notebook
# (docs/baselines.md, "`veegan`"): 254-d noise, batch 500, 100 epochs of
# 1,000 steps.
VEEGAN_NOISE_DIM = 254
VEEGAN_BATCH = 500
VEEGAN_STEPS = 100_000
# BMS-VAE-GAN states only "the architecture of VEEGAN" and a 32-d latent
# space for its mixtures: in this preset it keeps that latent size.
BMS_LATENT_DIM = 32


def apply_protocol(config: ml_collections.ConfigDict, protocol: str
                   ) -> ml_collections.ConfigDict:
  """Sets the networks, noise, batch, optimizer and length of `protocol`.

  Applied after `config.method` is chosen (the batch depends on it) and
  before any `--config.<field>` override. `config` is changed in place and
  returned.

  Raises:
    ValueError: for an unknown protocol; the message lists the valid ones.
  """
  if protocol not in PROTOCOLS:
    raise ValueError(
        f"Unknown protocol {protocol!r}; valid protocols: "
        f"{', '.join(PROTOCOLS)}.")
  config.protocol = protocol
  if protocol == "diwgan":
    return config
  if protocol == "veegan":
    return _veegan_protocol(config)
  # "pacgan": G 4 x 400 ReLU with batch norm, D 3 x 200 maxout (5 pieces),
  # N(0, 0.02^2) initial weights, 2-d N(0, I) noise, Adam 1e-4 (b1 0.8) at a
  # constant rate for both players updated simultaneously, 100 packs a step.
  config.noise_dim = 2
  config.generator_hidden = (400, 400, 400, 400)
  config.generator_batch_norm = True
  config.discriminator_hidden = (200, 200, 200)
  config.discriminator_maxout = 5
  config.init_std = 0.02
  config.simultaneous_updates = True
  config.methods.pacgan.pack_size = PACGAN_PACK_SIZE
  packs = PACGAN_PACKS_PER_BATCH
  batch_size = (packs * config.methods.pacgan.pack_size
                if config.method == "pacgan" else packs)
  return _published_setup(config, rate=1e-4, b1=0.8, batch_size=batch_size,
                          num_steps=PACGAN_STEPS)


def _published_setup(config: ml_collections.ConfigDict, *, rate: float,
                     b1: float, batch_size: int, num_steps: int
                     ) -> ml_collections.ConfigDict:
  """What the papers' presets share: Adam at one constant `rate` for both
  players (b2 0.999), their batch and length, and 2,500 samples scored
  (checkpoints too) every 5,000 steps."""
  config.optimizer.generator_lr = rate
  config.optimizer.discriminator_lr = rate
  config.optimizer.b1 = b1
  config.optimizer.b2 = 0.999
  config.optimizer.decay = "constant"
  config.batch_size = batch_size
  config.num_steps = num_steps
  config.eval.every = 5000
  config.eval.num_samples = 2500
  config.checkpoint_every = 5000
  return config


def _veegan_protocol(config: ml_collections.ConfigDict
                     ) -> ml_collections.ConfigDict:
  """VEEGAN's 2-D mixture notebook: every method in its networks and step.

  G: noise -> 2 x 128 ReLU -> 2; D: one hidden layer of 128 ReLU (on the
  (noise, sample) pair for VEEGAN, on the sample for the others); F (VEEGAN's
  reconstructor): 2 x 128 ReLU -> noise, a unit-variance Gaussian whose
  negative log-likelihood 0.5 ||z - F(G(z))||^2 is the d term (weight 0.5
  on this project's squared l2). Adam 1e-3, b1 0.5, constant, both players
  stepped from the same point; batch 500; 100,000 steps.
  """
  config.noise_dim = (BMS_LATENT_DIM if config.method == "bms_vae_gan"
                      else VEEGAN_NOISE_DIM)
  config.generator_hidden = (128, 128)
  config.discriminator_hidden = (128,)
  config.simultaneous_updates = True
  config.methods.veegan.reconstructor_hidden = (128, 128)
  config.methods.veegan.reconstruction_weight = 0.5
  config.methods.veegan.reconstructor_noise_std = 1.0
  # The Unrolled GAN as its authors' code trains it: G on the unrolled
  # minimax loss f_K, K = 5 (docs/baselines.md, "`diwgan`").
  config.methods.unrolled.objective = "minimax"
  config.methods.unrolled.unroll_steps = 5
  return _published_setup(config, rate=1e-3, b1=0.5,
                          batch_size=VEEGAN_BATCH, num_steps=VEEGAN_STEPS)


def get_config(name: str = "ring") -> ml_collections.ConfigDict:
  """Config for mixture `name`: one of `CONFIGS`, in the project's protocol."""
  if name not in CONFIGS:
    raise ValueError(
        f"Unknown config {name!r}; valid configs: {', '.join(CONFIGS)}."
    )
  config = base_config()
  config.dataset = name
  if name in ("grid", "random_grid"):
    # The 25-mode grids need longer than the ring (docs/RESULTS.md): DIW-GAN
    # on the grid reached HQS 53-66% at 10k steps and 82-89% at 20k (3
    # seeds; random_grid, 1 seed: 82.5% at 20k).
    config.num_steps = 20_000
  if name == "cube":
    config.num_steps = 10_000
  return config

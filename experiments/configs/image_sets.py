"""Configs of the image experiments, one per image set.

Run one with:

  python -m experiments.images --config=stacked_digits
  python -m experiments.images --config=stacked_digits --method=gan
  python -m experiments.images --config=stacked_mnist --config.num_steps=20000

`digits` and `stacked_digits` need no download (scikit-learn's 8x8 digits)
and run on a CPU in minutes; `mnist`, `stacked_mnist` and `cifar10` load
through tensorflow-datasets (pip install -e '.[images]'). Every field below
can be overridden as `--config.<field>=<value>`.
"""

import ml_collections

from diwgan.data import images
from experiments.configs import mixtures

CONFIGS = images.IMAGE_SETS


def base_config() -> ml_collections.ConfigDict:
  """Defaults shared by every image set (docs/method.md)."""
  config = ml_collections.ConfigDict()
  config.dataset = "stacked_digits"
  config.method = "diwgan"
  config.seed = 0

  config.num_steps = 20_000
  config.batch_size = 64
  config.noise_dim = 100
  config.discriminator_steps = 1
  # How convolutions are computed: "xla", or "patches" (slices + matmul;
  # XLA:CPU runs kernel-gradient convolutions inside the trainer's lax.scan
  # 30-100x slower than outside it). "auto": patches on CPU only. Parameters
  # and checkpoints are the same either way.
  config.conv_impl = "auto"

  config.generator = ml_collections.ConfigDict()
  config.generator.width = 64
  config.generator.kernel_size = 5
  config.discriminator = ml_collections.ConfigDict()
  config.discriminator.width = 64
  config.discriminator.kernel_size = 5

  # DCGAN's Adam settings, with the cosine decay of the mixture runs.
  config.optimizer = mixtures.optimizer_config(generator_lr=2e-4,
                                                  discriminator_lr=2e-4)

  config.autoencoder = ml_collections.ConfigDict()
  config.autoencoder.latent_dim = 32
  config.autoencoder.width = 32
  config.autoencoder.hidden = 256
  config.autoencoder.kernel_size = 5
  config.autoencoder.steps = 5000
  config.autoencoder.batch_size = 128
  config.autoencoder.learning_rate = 1e-3
  # Images cannot reach the 0.01 of the 2-D mixtures with a small latent;
  # this bound still refuses an auto-encoder that did not learn (~1.0).
  # Measured on stacked_digits (2000 steps): latent 64 / width 32 -> 0.107,
  # latent 64 / width 16 -> 0.186, latent 32 / width 16 -> 0.293.
  config.autoencoder.max_relative_mse = 0.2
  # Real images encoded for the anchor KDE and the quality gate: the whole
  # stored set (-1), or this many drawn with replacement (stacked sets are
  # built from 3 random indices each, never materialised in full).
  config.num_real = -1

  # The method hyper-parameters are the mixture experiments' (one factory).
  config.diw = mixtures.base_config().diw
  # Latent distances between images are ~10 (64-d latent) against ~1 for
  # the GAN loss: with alpha 1 the matched term dominates and pulls the
  # generator onto the B anchors. stacked_digits, seed 0, 1500 steps
  # (runs/images/tune_alpha_*): alpha 1 -> 866 modes, KL 0.80; 0.1 -> 902,
  # 0.61; 0.01 -> 919, 0.56 (DCGAN: 900, 0.64).
  config.diw.alpha = 0.01
  config.methods = _methods_config(
      width=config.discriminator.width,
      kernel_size=config.discriminator.kernel_size)

  config.data = ml_collections.ConfigDict()
  config.data.split = "train"  # "all" = train + test
  # TFDS folder; "" = $TFDS_DATA_DIR or ~/tensorflow_datasets.
  config.data.data_dir = ""
  config.data.download = True  # let TFDS download and prepare a missing set

  config.eval = ml_collections.ConfigDict()
  config.eval.every = 2000
  config.eval.num_samples = 26_000  # generated samples classified per eval
  config.eval.chunk = 2000  # samples generated and classified per call
  config.eval.grid_side = 10  # the PNG shows grid_side^2 samples
  config.eval.classifier = ml_collections.ConfigDict()
  config.eval.classifier.width = 32
  config.eval.classifier.hidden = 128
  config.eval.classifier.steps = 3000
  config.eval.classifier.batch_size = 128
  config.eval.classifier.learning_rate = 1e-3
  # Fixed: every run is judged by the same classifier.
  config.eval.classifier.seed = 0
  config.eval.classifier.min_accuracy = 0.98
  # Where the trained classifier is cached; "" = <workdir>/classifier. Point
  # several runs at one folder to train it once.
  config.eval.classifier.dir = ""
  # CIFAR-10 FID/IS need Inception-v3 weights supplied by the user (nothing is
  # downloaded without asking); "" skips them with a logged note.
  config.eval.inception_weights = ""

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
  config.checkpoint_every = 2000
  config.checkpoints_to_keep = 3
  return config


def _methods_config(*, width: int,
                    kernel_size: int) -> ml_collections.ConfigDict:
  """Per-method hyper-parameters on images (docs/baselines.md, "Image sets").

  The mixtures' sub-configs (`experiments.configs.mixtures.methods_config`:
  the papers' weights, K, m, T), with convolutional networks in place of the
  MLPs: VEEGAN's reconstructor F and BMS-VAE-GAN's encoder are the
  discriminator's convolutions with a dense output of the noise's size
  (twice that for the encoder's mean and log-variance), sized by
  `width` and `kernel_size` (the discriminator's by default). BMS-VAE-GAN's
  D_I is the run's discriminator (`config.discriminator`) spectrally
  normalised; its latent classifier C reads noise vectors and stays an MLP,
  3 x 750 as in that paper's image experiments. PacGAN stacks the m images
  of a pack as channels.

  `python -m experiments.images --method=veegan --config.methods.veegan.reconstructor_width=16`
  """
  methods = mixtures.methods_config()
  del methods.veegan.reconstructor_hidden
  methods.veegan.reconstructor_width = width
  methods.veegan.reconstructor_kernel_size = kernel_size
  del methods.bms_vae_gan.encoder_hidden
  methods.bms_vae_gan.encoder_width = width
  methods.bms_vae_gan.encoder_kernel_size = kernel_size
  methods.bms_vae_gan.latent_classifier_hidden = (750, 750, 750)
  return methods


def _small_digit_nets(config: ml_collections.ConfigDict) -> None:
  """Nets, budget and evaluation sized for 8x8 digits on a 2-core CPU.

  1500 steps of 3 vmapped seeds took ~15 min (GAN) on a shared 2-core CPU;
  10,000 evaluation samples put the KL of a perfectly uniform generator at
  ~0.05 (about (1000 - 1) / (2 N)) instead of ~0.02 with 26,000, at a third
  of the cost.
  """
  config.num_steps = 1500
  config.noise_dim = 32
  config.generator.width = 32
  config.generator.kernel_size = 3
  config.discriminator.width = 32
  config.discriminator.kernel_size = 3
  config.autoencoder.latent_dim = 64
  config.autoencoder.kernel_size = 3
  config.autoencoder.steps = 2000
  config.autoencoder.learning_rate = 2e-3
  config.data.split = "all"
  config.eval.every = 500
  config.eval.num_samples = 10_000
  config.eval.classifier.width = 16
  config.eval.classifier.hidden = 64
  config.eval.classifier.steps = 600
  config.eval.classifier.min_accuracy = 0.95
  config.checkpoint_every = 500


def get_config(name: str = "stacked_digits") -> ml_collections.ConfigDict:
  """Config for image set `name`: one of `CONFIGS`."""
  if name not in CONFIGS:
    raise ValueError(
        f"Unknown config {name!r}; valid configs: {', '.join(CONFIGS)}."
    )
  config = base_config()
  config.dataset = name
  if name in ("digits", "stacked_digits"):
    _small_digit_nets(config)
  if name in ("mnist", "stacked_mnist"):
    config.generator.width = 32
    config.discriminator.width = 32
  if images.is_stacked(name):
    config.num_real = 10_000
    config.autoencoder.latent_dim = 64
  else:
    config.eval.num_samples = 10_000
  if name == "digits":
    config.autoencoder.latent_dim = 24
  if name == "cifar10":
    config.autoencoder.latent_dim = 128
    config.autoencoder.hidden = 512
    config.num_real = 10_000
  # The methods' extra networks follow this set's discriminator.
  config.methods = _methods_config(
      width=config.discriminator.width,
      kernel_size=config.discriminator.kernel_size)
  return config

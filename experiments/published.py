"""Published rows of the papers: mixtures (presets) and stacked MNIST.

`PUBLISHED[protocol][(data set, method key)]` is one row of that paper's
table: the mean and the spread the paper prints, as it prints them. The
method key is the `--method` name, with the pack size for PacGAN
(`pacgan2`, ...). The comparison harness sets its runs beside these rows
(`experiments.report.reproduction_table`) and checks the bar of
docs/baselines.md ("Protocol presets"): modes >= published - 0.5 and
HQS >= published - 10 points.

Sources:
- "pacgan": PacGAN: The power of two samples in generative adversarial
  networks (Lin, Khetan, Fanti, Oh; NeurIPS 2018), Table 1: 2D-ring and
  2D-grid, 10 trials, mean +- standard error; HQS in %.
- "diwgan": Dual Importance Weight GAN, Table 1: ring, grid, random grid
  and cube; modes with their std, HQS % and JSD. Its protocol is the
  project's default one (docs/method.md); Unrolled GAN and VEEGAN are its
  baselines.
- "veegan": VEEGAN: Reducing Mode Collapse in GANs using Implicit
  Variational Learning (Srivastava, Valkov, Russell, Gutmann, Sutton; NIPS
  2017), Table 1: 2D ring and 2D grid, modes and % high-quality samples, no
  spread printed (ALI's row is left out: ALI is not trained here).
- "bms_vae_gan": Best-of-Many-Samples Distribution Matching (BMS-VAE-GAN;
  Bhattacharyya, Fritz, Schiele), its table of the 2D grid and ring: modes
  (no spread printed) and HQS % with its spread. Its protocol (rates,
  length, batch) is not given beyond "the architecture of VEEGAN", so no
  preset reproduces it; the rows are set beside its runs in VEEGAN's
  preset (the architecture it names, with its 32-d latent space) and its
  stand-in runs in PacGAN's (docs/baselines.md, "BMS-VAE-GAN").

`STACKED_MNIST` holds the published stacked-MNIST rows (28x28 MNIST digits
stacked as three colour channels, 1000 modes), printed beside the image
comparison's stacked sets (`experiments.report.stacked_mnist_block`). They
are another data set than this project's `stacked_digits` (8x8 digits),
with the papers' own networks and protocols: context, never a bar.
- VEEGAN: Reducing Mode Collapse in GANs using Implicit Variational
  Learning (Srivastava, Valkov, Russell, Gutmann, Sutton; NIPS 2017),
  Table 2, stacked MNIST: modes (of 1000) and KL, no spread printed.
- PacGAN (as above), Table 2: its own rows (10 trials, mean +- standard
  error; it repeats VEEGAN's four rows above them); read from the image of
  that table in the authors' repository, fjxmlzn/PacGAN,
  stacked_MNIST_experiments/results/Table2.png. Its Table 3 (a smaller D,
  after the Unrolled GAN paper's setup) is left out.
"""

from typing import Dict, Tuple

Row = Dict[str, float]

PUBLISHED: Dict[str, Dict[Tuple[str, str], Row]] = {
    "pacgan": {
        ("ring", "gan"): dict(modes=6.3, modes_err=0.5, hqs=98.2,
                              hqs_err=0.2, reverse_kl=0.45,
                              reverse_kl_err=0.09),
        ("ring", "pacgan2"): dict(modes=7.9, modes_err=0.1, hqs=95.6,
                                  hqs_err=2.0, reverse_kl=0.07,
                                  reverse_kl_err=0.03),
        ("ring", "pacgan3"): dict(modes=7.8, modes_err=0.1, hqs=97.7,
                                  hqs_err=0.3, reverse_kl=0.10,
                                  reverse_kl_err=0.02),
        ("ring", "pacgan4"): dict(modes=7.8, modes_err=0.1, hqs=95.9,
                                  hqs_err=1.4, reverse_kl=0.07,
                                  reverse_kl_err=0.02),
        ("grid", "gan"): dict(modes=17.3, modes_err=0.8, hqs=94.8,
                              hqs_err=0.7, reverse_kl=0.70,
                              reverse_kl_err=0.07),
        ("grid", "pacgan2"): dict(modes=23.8, modes_err=0.7, hqs=91.3,
                                  hqs_err=0.8, reverse_kl=0.13,
                                  reverse_kl_err=0.04),
        ("grid", "pacgan3"): dict(modes=24.6, modes_err=0.4, hqs=94.2,
                                  hqs_err=0.4, reverse_kl=0.06,
                                  reverse_kl_err=0.02),
        ("grid", "pacgan4"): dict(modes=24.8, modes_err=0.2, hqs=93.6,
                                  hqs_err=0.6, reverse_kl=0.04,
                                  reverse_kl_err=0.01),
    },
}
def _diwgan_row(modes, modes_std, hqs, jsd):
  return dict(modes=modes, modes_err=modes_std, hqs=hqs, jsd=jsd)


# Dual Importance Weight GAN, Table 1: modes with their std, HQS % and JSD
# (HQS and JSD printed without a spread), per data set and method.
PUBLISHED["diwgan"] = {
    ("ring", "unrolled"): _diwgan_row(8, 0, 30.9, 0.254),
    ("ring", "veegan"): _diwgan_row(8, 0, 60.4, 0.19),
    ("ring", "diwgan"): _diwgan_row(8, 0, 85.5, 0.172),
    ("grid", "unrolled"): _diwgan_row(25, 0, 14.4, 0.47),
    ("grid", "veegan"): _diwgan_row(24.1, 0.31, 65.4, 0.21),
    ("grid", "diwgan"): _diwgan_row(25, 0, 82.5, 0.12),
    ("random_grid", "unrolled"): _diwgan_row(24.4, 0.5, 15.9, 0.38),
    ("random_grid", "veegan"): _diwgan_row(24.3, 0.637, 63.7, 0.32),
    ("random_grid", "diwgan"): _diwgan_row(25, 0, 83.4, 0.15),
    ("cube", "unrolled"): _diwgan_row(27, 0, 85.0, 0.194),
    ("cube", "veegan"): _diwgan_row(26.6, 0.5, 43.3, 0.31),
    ("cube", "diwgan"): _diwgan_row(27, 0, 80.0, 0.125),
}
# VEEGAN, Table 1: modes and % high-quality samples, as printed.
PUBLISHED["veegan"] = {
    ("ring", "gan"): dict(modes=1, hqs=99.3),
    ("ring", "unrolled"): dict(modes=7.6, hqs=35.6),
    ("ring", "veegan"): dict(modes=8, hqs=52.9),
    ("grid", "gan"): dict(modes=3.3, hqs=0.5),
    ("grid", "unrolled"): dict(modes=23.6, hqs=16.0),
    ("grid", "veegan"): dict(modes=24.6, hqs=40.0),
}
PUBLISHED["bms_vae_gan"] = {
    ("ring", "bms_vae_gan"): dict(modes=8, hqs=99.6, hqs_err=0.3),
    ("grid", "bms_vae_gan"): dict(modes=25, hqs=99.7, hqs_err=0.2),
}
# One published stacked-MNIST row: the paper and table, the method as the
# paper prints it, the `--method` it corresponds to (None: not trained
# here), modes of 1000 and KL with their spreads where printed.
StackedRow = Dict[str, object]


def _stacked(paper, printed, method, modes, kl, modes_err=None, kl_err=None):
  return dict(paper=paper, printed=printed, method=method, modes=modes,
              modes_err=modes_err, kl=kl, kl_err=kl_err)


_VEEGAN_T2 = "VEEGAN, Table 2"
_PACGAN_T2 = "PacGAN, Table 2"
STACKED_MNIST: Tuple[StackedRow, ...] = (
    _stacked(_VEEGAN_T2, "DCGAN", "gan", 99.0, 3.40),
    _stacked(_VEEGAN_T2, "ALI", None, 16.0, 5.40),
    _stacked(_VEEGAN_T2, "Unrolled GAN", "unrolled", 48.7, 4.32),
    _stacked(_VEEGAN_T2, "VEEGAN", "veegan", 150.0, 2.95),
    _stacked(_PACGAN_T2, "DCGAN (their implementation)", "gan", 78.9, 4.50,
             6.46, 0.127),
    _stacked(_PACGAN_T2, "PacDCGAN2", "pacgan2", 1000.0, 0.06, 0.00, 0.003),
    _stacked(_PACGAN_T2, "PacDCGAN3", "pacgan3", 1000.0, 0.06, 0.00, 0.003),
    _stacked(_PACGAN_T2, "PacDCGAN4", "pacgan4", 1000.0, 0.07, 0.00, 0.005),
)
STACKED_MNIST_SPREAD = {
    _VEEGAN_T2: "no spread printed",
    _PACGAN_T2: "mean +- standard error over 10 trials",
}
STACKED_MNIST_SOURCES = {
    _VEEGAN_T2: "VEEGAN: Reducing Mode Collapse in GANs using Implicit "
                "Variational Learning (NIPS 2017), Table 2",
    _PACGAN_T2: "PacGAN: The power of two samples in generative adversarial "
                "networks (NeurIPS 2018), Table 2 (its own rows; it repeats "
                "VEEGAN's four above them)",
}
# What each paper's rows print: the mean and its spread.
SPREAD = {"pacgan": "mean +- standard error over 10 trials",
          "bms_vae_gan": "mean +- std of the HQS (the number of runs is "
                         "not stated); modes without a spread",
          "diwgan": "mean +- std of the modes over the paper's runs (their "
                    "number is not stated); HQS and JSD without a spread",
          "veegan": "the mean as printed, no spread printed (the number of "
                    "runs is not stated)"}
# The third column of each paper's table: `reverse_kl` (PacGAN) or `jsd`
# (DIW-GAN), as the harness records them per run; VEEGAN's Table 1 has none
# (the table then shows the JSD measured here, with no published value).
THIRD_METRIC = {"pacgan": "reverse_kl", "diwgan": "jsd", "veegan": None}
# The bar a reproduced cell must meet: modes >= published - MODES_SLACK and
# HQS >= published - HQS_SLACK points.
MODES_SLACK = 0.5
HQS_SLACK = 10.0


def method_key(method: str, pack_size: int) -> str:
  """The key of a run in `PUBLISHED`: PacGAN carries its pack size.

  PacGAN with packs of one sample is the GAN (the same losses and
  networks; PacGAN's tables call it so), and has the GAN's rows.

  >>> method_key("pacgan", 2), method_key("gan", 2), method_key("pacgan", 1)
  ('pacgan2', 'gan', 'gan')
  """
  if method != "pacgan":
    return method
  return "gan" if pack_size == 1 else f"pacgan{pack_size}"


def meets_bar(modes: float, hqs_percent: float, row: Row) -> bool:
  """Whether a mean (modes, HQS %) reproduces a published row.

  >>> row = PUBLISHED["pacgan"][("grid", "pacgan2")]
  >>> meets_bar(23.3, 81.3, row), meets_bar(23.2, 95.0, row)
  (True, False)
  """
  return (modes >= row["modes"] - MODES_SLACK - 1e-9
          and hqs_percent >= row["hqs"] - HQS_SLACK - 1e-9)

"""DIW-GAN (and the plain GAN, which is DIW-GAN with the matching term off).

Generator step (docs/method.md, "Every generator step"): s_g = E(G(z)); C = dist(anchors, s_g); pi =
optimal assignment of C (auction, no gradient); w_g from a KDE of past
generated latents, w_r from past matched distances of each anchor;

  L_G = -mean(log D(G(z))) + alpha * mean_i(w_r[i] w_g[pi(i)] C[i, pi(i)]).
"""

import dataclasses
from typing import Any, Callable, Mapping, NamedTuple, Optional, Tuple, Union

import jax
import jax.numpy as jnp

from diwgan import diw
from diwgan import distances
from diwgan import importance
from diwgan import kde as kde_lib
from diwgan.methods import adversarial as adversarial_game
from diwgan.training import Method, Metrics, StepContext

# (encoder_params, samples (b, ...)) -> latents (b, k)
EncodeFn = Callable[[Any, jax.Array], jax.Array]


class DIWState(NamedTuple):
  """DIW-GAN's persistent state, part of the checkpoint.

  Attributes:
    encoder_params: frozen parameters of the pre-trained auto-encoder.
    anchors: (B, k) real anchors `S_r`, drawn once from the latent KDE.
    importance: ring buffers of the importance weights.

  The auction's prices are not kept: each step's generated latents are new
  columns, so the last step's prices are no warm start
  (`diwgan.diw.diw_term`); they are in the step's `aux` for inspection.
  """

  encoder_params: Any
  anchors: jax.Array
  importance: importance.ImportanceState


def draw_anchors(
    real_latents: jax.Array,
    key: jax.Array,
    num_anchors: int,
    *,
    bandwidth: Union[str, float] = 0.01,
) -> jax.Array:
  """Samples the fixed real anchors from a Gaussian KDE of the real latents.

  Args:
    real_latents: (n, k) encoded real set `R = E(X)`.
    key: PRNG key.
    num_anchors: B, the batch size.
    bandwidth: KDE bandwidth factor (scipy's scalar `bw_method`) or rule.
      0.01 keeps ~96% of decoded ring anchors high-quality where Scott's rule
      keeps 3% (measured: docs/method.md, "Anchor bandwidth").

  Returns:
    (num_anchors, k) anchors.

  Example:
    >>> import jax
    >>> real_latents = jax.random.normal(jax.random.key(0), (100, 8))
    >>> draw_anchors(real_latents, jax.random.key(1), 16).shape
    (16, 8)
  """
  real_kde = kde_lib.fit_kde(real_latents, bandwidth=bandwidth)
  return kde_lib.kde_sample(real_kde, key, num_anchors)


def init_diw_state(
    encoder_params: Any,
    anchors: jax.Array,
    *,
    history: int,
) -> DIWState:
  """Fresh DIW state around given anchors (empty importance buffers).

  Args:
    encoder_params: parameters of the frozen encoder.
    anchors: (B, k) anchors, e.g. from `draw_anchors`.
    history: N, steps kept in the importance ring buffers.

  Returns:
    A `DIWState` with (N, B, k) latent and (N, B) distance buffers.

  Example:
    >>> import jax.numpy as jnp
    >>> state = init_diw_state({}, jnp.zeros((16, 8)), history=10)
    >>> state.importance.latents.shape, state.importance.distances.shape
    ((10, 16, 8), (10, 16))
  """
  num_anchors, latent_dim = anchors.shape
  return DIWState(
      encoder_params=encoder_params,
      anchors=jnp.asarray(anchors, jnp.float32),
      importance=importance.init_importance_state(
          history, num_anchors, latent_dim
      ),
  )


# The fields of `DIWGAN` that `diw.diw_term` takes as they are.
_TERM_OPTIONS = (
    "distance", "matcher", "auction_options", "use_generator_weights",
    "use_target_weights", "generator_bandwidth", "generator_weight_exponent",
    "target_weight_exponent", "generator_weight_clip", "target_weight_clip")


@dataclasses.dataclass(frozen=True)
class DIWGAN(Method):
  """DIW-GAN and its ablations; `matching=False` is the plain GAN.

  Attributes:
    encode: (encoder_params, samples) -> latents, the frozen encoder.
    matching: False turns the DIW term off entirely (plain GAN).
    alpha: weight of the DIW term.
    distance: "euclidean" (paper) or "sqeuclidean" (poster variant).
    matcher: "auction", "hungarian" or "scipy" (see `assignment.match`).
    random_matching: pair anchors with a random permutation instead of the
      optimal assignment (ablation).
    use_generator_weights: use `w_g` (else ones).
    use_target_weights: use `w_r` (else ones).
    generator_bandwidth: bandwidth of the KDE over past generated latents.
    generator_weight_exponent / target_weight_exponent: exponents.
    generator_weight_clip / target_weight_clip: optional (low, high) clips.
    saturating: use the saturating generator loss instead.
    auction_options: keyword arguments of `assignment.auction`.
  """

  encode: Optional[EncodeFn] = None
  matching: bool = True
  alpha: float = 1.0
  distance: str = "euclidean"
  matcher: str = "auction"
  random_matching: bool = False
  use_generator_weights: bool = True
  use_target_weights: bool = True
  generator_bandwidth: Union[str, float] = "scott"
  generator_weight_exponent: float = 1.0
  target_weight_exponent: float = 1.0
  generator_weight_clip: Optional[Tuple[float, float]] = None
  target_weight_clip: Optional[Tuple[float, float]] = None
  saturating: bool = False
  auction_options: Mapping[str, Any] = dataclasses.field(default_factory=dict)
  name: str = "diwgan"

  def __post_init__(self):
    if self.matching and self.encode is None:
      raise ValueError("DIW-GAN with matching needs the encoder `encode`.")
    if self.distance not in distances.DISTANCE_KINDS:
      raise ValueError(
          f"Unknown distance {self.distance!r}; valid: "
          f"{distances.DISTANCE_KINDS}."
      )

  def discriminator_loss(
      self, discriminator_params, generator_params, method_state, real, key,
      context, networks):
    fake = networks.generate(generator_params, key, real.shape[0])
    fake = jax.lax.stop_gradient(fake)
    disc = networks.discriminator.apply
    real_logits = disc(discriminator_params["discriminator"], real)
    fake_logits = disc(discriminator_params["discriminator"], fake)
    return adversarial_game.discriminator_loss(real_logits, fake_logits)

  def generator_loss(
      self, generator_params, discriminator_params, method_state, real, key,
      context, networks):
    noise_key, match_key = jax.random.split(key)
    fake = networks.generator.apply(
        generator_params["generator"],
        networks.sample_noise(noise_key, real.shape[0]),
    )
    logits = networks.discriminator.apply(
        discriminator_params["discriminator"], fake
    )
    adversarial = adversarial_game.generator_loss(
        logits, saturating=self.saturating)
    metrics = {"adversarial_loss": adversarial}
    if not self.matching:
      return adversarial, (metrics, method_state)

    term, term_metrics, method_state = self.diw_term(
        fake, method_state, match_key, context
    )
    metrics.update(term_metrics)
    return adversarial + self.alpha * term, (metrics, method_state)

  def diw_term(
      self,
      fake: jax.Array,
      state: DIWState,
      key: jax.Array,
      context: StepContext,
  ) -> Tuple[jax.Array, Metrics, DIWState]:
    """The weighted matched distance of this step and the updated state.

    Under a device axis the latents of all devices are gathered first, so
    every device has the whole global batch against all anchors: N devices
    compute the loss of one device holding the whole batch. The matching of
    that one problem is solved on the first device and broadcast.
    """
    latents = self.encode(state.encoder_params, fake)
    if context.axis_name is not None:
      latents = jax.lax.all_gather(latents, context.axis_name, tiled=True)
    term, new_importance, aux = diw.diw_term(
        state.anchors, latents, state.importance,
        random_matching_key=key if self.random_matching else None,
        axis_name=context.axis_name,
        **{name: getattr(self, name) for name in _TERM_OPTIONS})
    new_state = state._replace(importance=new_importance)
    metrics = {
        "diw_term": term,
        "matched_distance": jnp.mean(aux.matched_distances),
        "auction_rounds": aux.rounds.astype(jnp.float32),
        "auction_converged": aux.converged.astype(jnp.float32),
        "generator_weight_max": jnp.max(aux.generator_weights),
        "target_weight_max": jnp.max(aux.target_weights),
    }
    return term, metrics, new_state

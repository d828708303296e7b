r"""Adds DIW-GAN's matched-distance term to a GAN written in plain flax/optax.

  python examples/diw_loss_in_your_gan.py --steps=300
  python examples/diw_loss_in_your_gan.py --steps=300 --alpha=0  # plain GAN

The GAN below (networks, losses, optimizers, train step) is ordinary flax and
optax code; only the DIW term comes from `diwgan`, in one call:

  anchors = kde_sample(fit_kde(real_features), key, B)               # once
  term, importance, aux = diw_term(anchors, features(G(z)), importance)
  loss = adversarial + alpha * term                                  # L_G

`diw_term` computes the distances, the one-to-one matching (no gradient),
the two importance weights from the ring buffers in `importance` and the
weighted matched distance, and returns the buffers with this step written
(`diwgan.diw`; its pieces are public too).

DIW-GAN matches in the latent space of a frozen auto-encoder; this example
keeps it short by matching in the 2-D data space (`features` is the identity).
Put your frozen encoder there. The data is the 8-mode ring of the paper.
"""

import argparse
import time
from typing import Any, NamedTuple, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from diwgan import diw_term
from diwgan.importance import ImportanceState
from diwgan.importance import init_importance_state
from diwgan.kde import fit_kde
from diwgan.kde import kde_sample

NUM_MODES = 8
MODE_STD = 0.01
NOISE_DIM = 16


def ring_means() -> jax.Array:
  angles = 2.0 * jnp.pi * jnp.arange(NUM_MODES) / NUM_MODES
  return jnp.stack([jnp.cos(angles), jnp.sin(angles)], axis=-1)


def sample_ring(key: jax.Array, num: int) -> jax.Array:
  """(num, 2) samples of 8 Gaussians of std 0.01 on the unit circle."""
  mode_key, noise_key = jax.random.split(key)
  modes = jax.random.randint(mode_key, (num,), 0, NUM_MODES)
  return ring_means()[modes] + MODE_STD * jax.random.normal(noise_key, (num, 2))


def features(samples: jax.Array) -> jax.Array:
  """The space the DIW term matches in: here the identity; your encoder."""
  return samples


class MLP(nn.Module):
  hidden: Sequence[int]
  out: int

  @nn.compact
  def __call__(self, x):
    for width in self.hidden:
      x = nn.relu(nn.Dense(width)(x))
    return nn.Dense(self.out)(x)


generator = MLP(hidden=(128, 128), out=2)
discriminator = MLP(hidden=(128, 128), out=1)
generator_optimizer = optax.adam(1e-3, b1=0.5)
discriminator_optimizer = optax.adam(1e-4, b1=0.5)


class State(NamedTuple):
  """Everything that persists across steps: a pytree, so `jit` takes it."""
  generator_params: Any
  discriminator_params: Any
  generator_opt_state: Any
  discriminator_opt_state: Any
  anchors: jax.Array  # (B, k), fixed
  importance: ImportanceState  # ring buffers behind w_g and w_r


def init_state(key: jax.Array, batch_size: int, history: int) -> State:
  generator_key, discriminator_key, real_key, anchor_key = jax.random.split(
      key, 4)
  generator_params = generator.init(
      generator_key, jnp.zeros((1, NOISE_DIM)))
  discriminator_params = discriminator.init(
      discriminator_key, jnp.zeros((1, 2)))
  # Anchors: drawn once from a narrow KDE of the real features (the DIW-GAN
  # default bandwidth factor, 0.01, keeps them on the modes).
  real_features = features(sample_ring(real_key, 10_000))
  anchors = kde_sample(
      fit_kde(real_features, bandwidth=0.01), anchor_key, batch_size)
  return State(
      generator_params=generator_params,
      discriminator_params=discriminator_params,
      generator_opt_state=generator_optimizer.init(generator_params),
      discriminator_opt_state=discriminator_optimizer.init(
          discriminator_params),
      anchors=anchors,
      importance=init_importance_state(history, batch_size, anchors.shape[1]),
  )


def bce(logits: jax.Array, label: float) -> jax.Array:
  return jnp.mean(optax.sigmoid_binary_cross_entropy(
      logits, jnp.full_like(logits, label)))


def train_step(state: State, key: jax.Array, *, alpha: float):
  """One discriminator and one generator update; returns (state, metrics)."""
  batch_size = state.anchors.shape[0]
  real_key, d_noise_key, g_noise_key = jax.random.split(key, 3)

  # Discriminator: the usual binary cross-entropy.
  real = sample_ring(real_key, batch_size)
  fake = generator.apply(
      state.generator_params,
      jax.random.normal(d_noise_key, (batch_size, NOISE_DIM)))

  def discriminator_loss(params):
    return (bce(discriminator.apply(params, real), 1.0)
            + bce(discriminator.apply(params, fake), 0.0))

  d_loss, d_grads = jax.value_and_grad(discriminator_loss)(
      state.discriminator_params)
  updates, discriminator_opt_state = discriminator_optimizer.update(
      d_grads, state.discriminator_opt_state)
  discriminator_params = optax.apply_updates(
      state.discriminator_params, updates)

  # Generator: non-saturating loss plus alpha times the DIW term.
  noise = jax.random.normal(g_noise_key, (batch_size, NOISE_DIM))

  def generator_loss(params):
    fake = generator.apply(params, noise)
    adversarial = bce(discriminator.apply(discriminator_params, fake), 1.0)
    term, importance, aux = diw_term(
        state.anchors, features(fake), state.importance)
    return adversarial + alpha * term, (term, importance, aux)

  (g_loss, (term, importance, aux)), g_grads = jax.value_and_grad(
      generator_loss, has_aux=True)(state.generator_params)
  updates, generator_opt_state = generator_optimizer.update(
      g_grads, state.generator_opt_state)
  generator_params = optax.apply_updates(state.generator_params, updates)

  state = State(
      generator_params=generator_params,
      discriminator_params=discriminator_params,
      generator_opt_state=generator_opt_state,
      discriminator_opt_state=discriminator_opt_state,
      anchors=state.anchors,
      # This step written after its weights were read from the buffers.
      importance=importance,
  )
  return state, {"d_loss": d_loss, "g_loss": g_loss, "diw_term": term,
                 "matched_distance": jnp.mean(aux.matched_distances)}


def modes_covered(samples: np.ndarray, hq_std: float = 3.0):
  """(modes hit by a high-quality sample, fraction of high-quality samples)."""
  distances = np.linalg.norm(
      samples[:, None, :] - np.asarray(ring_means())[None], axis=-1)
  high_quality = distances.min(axis=1) <= hq_std * MODE_STD
  hit = np.unique(distances.argmin(axis=1)[high_quality])
  return len(hit), float(high_quality.mean())


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--steps", type=int, default=300)
  parser.add_argument("--alpha", type=float, default=1.0,
                      help="weight of the DIW term; 0 is the plain GAN")
  parser.add_argument("--batch_size", type=int, default=128)
  parser.add_argument("--history", type=int, default=10)
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--log_every", type=int, default=100)
  args = parser.parse_args(argv)

  key = jax.random.key(args.seed)
  init_key, train_key, eval_key = jax.random.split(key, 3)
  state = init_state(init_key, args.batch_size, args.history)
  step_fn = jax.jit(lambda s, k: train_step(s, k, alpha=args.alpha))
  print(f"backend {jax.default_backend()}, alpha {args.alpha}, "
        f"batch {args.batch_size}, {args.steps} steps")
  start = time.time()
  for step in range(args.steps):
    state, metrics = step_fn(state, jax.random.fold_in(train_key, step))
    if (step + 1) % args.log_every == 0 or step + 1 == args.steps:
      print(f"step {step + 1}: " + ", ".join(
          f"{name} {float(value):.4f}" for name, value in metrics.items()))
  samples = generator.apply(
      state.generator_params, jax.random.normal(eval_key, (2500, NOISE_DIM)))
  modes, hqs = modes_covered(np.asarray(samples))
  print(f"done in {time.time() - start:.1f}s: {modes}/{NUM_MODES} modes, "
        f"{100 * hqs:.1f}% high-quality samples")
  return modes, hqs


if __name__ == "__main__":
  main()

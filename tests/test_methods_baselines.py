"""The baselines of docs/baselines.md and the DIW-GAN ablations, on tiny models.

Each method runs a few steps of the generic `Trainer`; each distinctive
mechanism is checked against a reference: the unrolled gradient against
central finite differences, packs, the VEEGAN and best-of-T reconstruction
terms and the t-similarity KL against numpy, the DIW ablation flags against
the assignment scipy finds.
"""

import flax.linen as nn
import jax
from jax import flatten_util
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from scipy import optimize

from diwgan.data import mog as mog_data
from diwgan import losses
from diwgan import methods
from diwgan.methods import bms_vae_gan
from diwgan.methods import gne
from diwgan.methods import pacgan
from diwgan.methods import unrolled
from diwgan.methods import veegan
from diwgan import models
from diwgan import training
from experiments.configs import mixtures
from experiments import mog
from experiments import registry

BASELINES = ("unrolled", "veegan", "pacgan", "gne", "bms_vae_gan")


# Tiny models run in microseconds: compile them without XLA's optimisations.
pytestmark = pytest.mark.usefixtures("fast_compile")


def tiny_config(method):
  config = mixtures.get_config("ring")
  config.method = method
  config.num_steps = 10
  config.batch_size = 8
  config.noise_dim = 4
  config.generator_hidden = (16,)
  config.discriminator_hidden = (16,)
  config.methods.unrolled.unroll_steps = 2
  config.methods.veegan.reconstructor_hidden = (16,)
  config.methods.bms_vae_gan.num_samples = 3
  config.methods.bms_vae_gan.encoder_hidden = (16,)
  config.methods.bms_vae_gan.latent_classifier_hidden = (16,)
  return config


def test_registry_lists_every_method():
  assert set(registry.METHODS) == {
      "gan", "unrolled", "veegan", "pacgan", "gne", "bms_vae_gan", "diwgan",
      "diwgan_poster", "diwgan_noweights", "diwgan_wg", "diwgan_wr",
      "diwgan_random_match"}
  for name in registry.METHODS:
    assert registry.needs_autoencoder(name) == name.startswith(
        "diwgan")
  with pytest.raises(ValueError, match="Unknown method 'vae'"):
    registry.make_method(tiny_config("vae"))


@pytest.mark.parametrize("method", BASELINES)
def test_baseline_trains_through_generic_step(method):
  config = tiny_config(method)
  experiment = mog.build_experiment(config)
  state = experiment.initial_state()
  template = experiment.template_state()
  assert (jax.tree.structure(template.method_state)
          == jax.tree.structure(state.method_state))
  new_state, metrics = jax.jit(
      experiment.trainer.train_steps, static_argnums=1)(state, 2)
  assert int(new_state.step) == 2
  for name, values in metrics.items():
    assert values.shape == (2,), name
    assert np.all(np.isfinite(values)), name
  # Every generator-side network (G, reconstructor, encoder) learns.
  changed = jax.tree.map(lambda a, b: bool(jnp.any(a != b)),
                         state.generator_params, new_state.generator_params)
  assert all(jax.tree.leaves(changed)), changed
  # The method state keeps its structure and shapes.
  assert (jax.tree.map(jnp.shape, new_state.method_state)
          == jax.tree.map(jnp.shape, state.method_state))
  networks = experiment.trainer.networks
  samples = networks.generate(new_state.generator_params,
                              jax.random.key(1), 5)
  assert samples.shape == (5, 2)


# --- Unrolled GAN ------------------------------------------------------------


class _TanhGenerator(nn.Module):
  @nn.compact
  def __call__(self, z):
    return nn.Dense(2)(jnp.tanh(nn.Dense(4)(z)))


class _TanhDiscriminator(nn.Module):
  @nn.compact
  def __call__(self, x):
    return nn.Dense(1)(jnp.tanh(nn.Dense(4)(x)))[..., 0]


def _unrolled_setup(unroll_steps, optimizer):
  """A smooth (tanh) tiny model and an Adam state with non-zero moments."""
  networks = training.Networks(
      generator=_TanhGenerator(), discriminator=_TanhDiscriminator(),
      noise_dim=2)
  method = methods.UnrolledGAN(optimizer=optimizer, unroll_steps=unroll_steps)
  real = jax.random.normal(jax.random.key(0), (16, 2))
  g_params, d_params = method.init_params(jax.random.key(1), networks, real)
  opt_state = method.init_state(jax.random.key(2), networks, real)
  opt_state = opt_state.optimizer_state
  for i in range(3):
    fake_grads = jax.tree.map(
        lambda p, i=i: 0.3 * jax.random.normal(jax.random.key(10 + i), p.shape),
        d_params)
    _, opt_state = optimizer.update(fake_grads, opt_state, d_params)
  state = unrolled.UnrolledState(opt_state)
  context = training.StepContext(step=jnp.zeros((), jnp.int32))

  def loss(g):
    return method.generator_loss(g, d_params, state, real, jax.random.key(3),
                                 context, networks)[0]

  return g_params, jax.jit(loss), jax.jit(jax.grad(loss))


def test_unrolled_gradient_flows_through_the_unroll():
  """The generator gradient with K=5 is the derivative of the unrolled loss.

  It differs from the K=0 (plain GAN) gradient, and agrees with central
  differences of the loss: float32, step h = 1e-2, along 3 random unit
  directions, to 2e-2 relative plus 1e-4 absolute (float32 rounding
  contributes ~1e-5, the O(h^2) truncation ~1e-4 on this smooth tanh model).
  The unroll uses Adam with non-zero moments, as in training.
  """
  optimizer = optax.adam(0.1, b1=0.5, eps_root=1e-16)
  g_params, loss, grad = _unrolled_setup(5, optimizer)
  _, _, grad_k0 = _unrolled_setup(0, optimizer)
  flat, unravel = flatten_util.ravel_pytree(g_params)
  gradient = np.asarray(flatten_util.ravel_pytree(grad(g_params))[0])
  gradient_k0 = np.asarray(flatten_util.ravel_pytree(grad_k0(g_params))[0])
  assert np.all(np.isfinite(gradient))
  assert (np.linalg.norm(gradient - gradient_k0)
          > 1e-2 * np.linalg.norm(gradient_k0))
  h = 1e-2
  for i in range(3):
    direction = np.array(jax.random.normal(jax.random.key(20 + i),
                                           flat.shape))
    direction /= np.linalg.norm(direction)
    plus = float(loss(unravel(flat + h * direction)))
    minus = float(loss(unravel(flat - h * direction)))
    finite_difference = (plus - minus) / (2 * h)
    analytic = float(np.dot(gradient, direction))
    assert abs(finite_difference - analytic) <= 1e-4 + 2e-2 * abs(analytic), (
        finite_difference, analytic)
    # Not vacuous: the K=0 gradient misses the unroll's contribution.
    assert abs(finite_difference - float(np.dot(gradient_k0, direction))) > (
        abs(finite_difference - analytic))


def test_unroll_and_gne_see_the_global_batch_under_a_device_axis():
  """Two emulated devices (vmap with an axis name) compute the global terms.

  The unrolled discriminator is the one unrolled on the whole batch (the
  unroll's gradients are averaged over devices) and GNE's KL is the one of
  the whole batch (its similarities are normalised over all pairs).
  """
  optimizer = optax.adam(0.1, b1=0.5, eps_root=1e-16)
  networks = training.Networks(
      generator=_TanhGenerator(), discriminator=_TanhDiscriminator(),
      noise_dim=2)
  method = methods.UnrolledGAN(optimizer=optimizer, unroll_steps=2)
  real = jax.random.normal(jax.random.key(0), (2, 4, 2))
  keys = jax.random.split(jax.random.key(1), 2)
  g_params, d_params = method.init_params(jax.random.key(2), networks,
                                          real[0])
  state = method.init_state(jax.random.key(3), networks, real[0])
  context = training.StepContext(step=jnp.zeros((), jnp.int32),
                                 axis_name="devices")

  def per_device(method, real, key):
    return method.generator_loss(g_params, d_params, state, real, key,
                                 context, networks)[1][0]

  unrolled_metrics = jax.jit(jax.vmap(
      lambda r, k: per_device(method, r, k), axis_name="devices"))(real, keys)
  fakes = jnp.stack([networks.generate(g_params, k, 4) for k in keys])

  def whole_batch_loss(params):
    return method._discriminator_loss(  # pylint: disable=protected-access
        params, real.reshape(8, 2), fakes.reshape(8, 2), networks)[0]

  unrolled_params, _ = unrolled.unroll(
      d_params, state.optimizer_state, whole_batch_loss, optimizer,
      num_steps=2)
  for device in range(2):
    expected = losses.generator_loss_nonsaturating(
        networks.discriminator.apply(unrolled_params["discriminator"],
                                     fakes[device]))
    np.testing.assert_allclose(unrolled_metrics["adversarial_loss"][device],
                               expected, rtol=1e-5)

  neighbour = methods.GNE()
  gne_metrics = jax.jit(jax.vmap(
      lambda r, k: per_device(neighbour, r, k), axis_name="devices"))(
          real, keys)
  noise = jnp.concatenate([networks.sample_noise(k, 4) for k in keys])
  expected = gne.neighbour_embedding_kl(
      noise, networks.generator.apply(g_params["generator"], noise))
  np.testing.assert_allclose(gne_metrics["neighbour_kl"], [expected] * 2,
                             rtol=1e-5)


def test_unroll_with_zero_steps_is_identity():
  params = {"w": jnp.ones((2,))}
  optimizer = optax.sgd(0.1)
  state = optimizer.init(params)
  out, out_state = unrolled.unroll(params, state, lambda p: jnp.sum(p["w"]),
                                   optimizer, num_steps=0)
  assert out is params and out_state is state
  out, _ = unrolled.unroll(params, state, lambda p: jnp.sum(p["w"] ** 2),
                           optimizer, num_steps=2)
  np.testing.assert_allclose(out["w"], 0.8**2 * np.ones(2), rtol=1e-6)


# --- PacGAN ------------------------------------------------------------------


def test_pack_shapes_and_order():
  samples = jnp.arange(24.0).reshape(12, 2)
  packed = pacgan.pack(samples, 4)
  assert packed.shape == (3, 8)
  np.testing.assert_array_equal(packed[1], np.arange(8.0, 16.0))
  assert pacgan.pack(samples, 1).shape == (12, 2)
  with pytest.raises(ValueError, match="divisible by the pack size"):
    pacgan.pack(samples, 5)


def test_pack_stacks_images_as_channels():
  images = jnp.arange(4 * 2 * 2 * 3, dtype=jnp.float32).reshape(4, 2, 2, 3)
  packed = pacgan.pack(images, 2)
  assert packed.shape == (2, 2, 2, 6)
  for p in range(2):
    for i in range(2):
      np.testing.assert_array_equal(packed[p, ..., 3 * i:3 * (i + 1)],
                                    images[2 * p + i])
  np.testing.assert_array_equal(pacgan.pack(images, 1), images)
  with pytest.raises(ValueError, match="divisible by the pack size"):
    pacgan.pack(images, 3)


def test_pacgan_discriminator_sees_packs():
  networks = training.Networks(
      generator=models.MLPGenerator(3, (16,)),
      discriminator=models.MLPDiscriminator((16,)), noise_dim=4)
  method = methods.PacGAN(pack_size=4)
  real = jnp.ones((8, 3))
  _, d_params = method.init_params(jax.random.key(0), networks, real[:1])
  first_kernel = d_params["discriminator"]["params"]["MLP_0"]["Dense_0"][
      "kernel"]
  assert first_kernel.shape == (4 * 3, 16)
  g_params, _ = method.init_params(jax.random.key(0), networks, real[:1])
  context = training.StepContext(step=jnp.zeros((), jnp.int32))
  loss, metrics = method.discriminator_loss(
      d_params, g_params, (), real, jax.random.key(1), context, networks)
  assert loss.shape == () and np.isfinite(loss)
  assert set(metrics) == {"d_real", "d_fake"}


# --- VEEGAN ------------------------------------------------------------------


def test_veegan_reconstruction_loss_hand_case():
  noise = np.array([[1.0, 2.0], [0.0, 0.0]])
  reconstructed = np.array([[1.0, 0.0], [3.0, 4.0]])
  expected = np.mean(np.sum((noise - reconstructed) ** 2, axis=1))  # 14.5
  assert expected == 14.5
  np.testing.assert_allclose(
      veegan.reconstruction_loss(noise, reconstructed), expected, rtol=1e-6)


def test_veegan_generator_loss_is_logit_mean_plus_l2():
  networks = training.Networks(
      generator=models.MLPGenerator(2, (16,)),
      discriminator=models.MLPDiscriminator((16,)), noise_dim=3)
  method = methods.VEEGAN(reconstructor_hidden=(16,),
                          reconstruction_weight=0.5)
  real = jax.random.normal(jax.random.key(0), (6, 2))
  g_params, d_params = method.init_params(jax.random.key(1), networks,
                                          real[:1])
  context = training.StepContext(step=jnp.zeros((), jnp.int32))
  key = jax.random.key(2)

  def loss_fn(g):
    loss, (metrics, _) = method.generator_loss(
        g, d_params, (), real, key, context, networks)
    return loss, metrics

  (loss, metrics), grads = jax.jit(jax.value_and_grad(loss_fn, has_aux=True))(
      g_params)
  noise = np.asarray(networks.sample_noise(key, 6))
  fake = networks.generator.apply(g_params["generator"], noise)
  logits = networks.discriminator.apply(
      d_params["discriminator"], jnp.concatenate([noise, fake], -1))
  reconstructed = np.asarray(method.reconstructor(networks).apply(
      g_params["reconstructor"], fake))
  l2 = np.mean(np.sum((noise - reconstructed) ** 2, axis=1))
  np.testing.assert_allclose(metrics["reconstruction_loss"], l2, rtol=1e-5)
  np.testing.assert_allclose(loss, np.mean(logits) + 0.5 * l2, rtol=1e-5)
  # F learns from the l2 term only, G from both.
  for part in ("generator", "reconstructor"):
    assert any(np.any(leaf != 0) for leaf in jax.tree.leaves(grads[part]))

  # D's reconstructor pairs (z_g, x) draw z_g ~ N(F(x), s^2 I); s = 0 is the
  # deterministic F(x).
  deterministic = methods.VEEGAN(reconstructor_hidden=(16,),
                                 reconstructor_noise_std=0.0)
  noise_key, _ = jax.random.split(key)
  noise = networks.sample_noise(noise_key, 6)
  fake = networks.generator.apply(g_params["generator"], noise)
  real_noise = deterministic.reconstructor(networks).apply(
      g_params["reconstructor"], real)
  disc = lambda z, x: networks.discriminator.apply(  # pylint: disable=g-long-lambda
      d_params["discriminator"], jnp.concatenate([z, x], -1))
  expected = losses.discriminator_loss(disc(noise, fake),
                                       disc(real_noise, real))
  got, _ = deterministic.discriminator_loss(
      d_params, g_params, (), real, key, context, networks)
  np.testing.assert_allclose(got, expected, rtol=1e-5)
  noisy, _ = method.discriminator_loss(
      d_params, g_params, (), real, key, context, networks)
  assert abs(float(noisy) - float(got)) > 1e-6


def test_veegan_on_images_reads_z_at_the_dense_layer():
  """Image D(z, x): convolutions read x, z joins before the dense output."""
  networks = training.Networks(
      generator=models.ConvGenerator((8, 8, 1), width=4, kernel_size=3),
      discriminator=models.ConvDiscriminator(width=4, kernel_size=3),
      noise_dim=3)
  method = methods.VEEGAN(reconstructor_network=models.ConvDiscriminator(
      width=4, kernel_size=3, out_dim=3))
  real = jax.random.normal(jax.random.key(0), (6, 8, 8, 1))
  g_params, d_params = method.init_params(jax.random.key(1), networks,
                                          real[:1])
  # 4 x 4 x 8 features of the last convolution, then the 3 noise entries.
  dense = d_params["discriminator"]["params"]["Dense_0"]["kernel"]
  assert dense.shape == (4 * 4 * 8 + 3, 1)
  f_dense = g_params["reconstructor"]["params"]["Dense_0"]["kernel"]
  assert f_dense.shape == (4 * 4 * 8, 3)
  noise = networks.sample_noise(jax.random.key(2), 6)
  logits = veegan.pair_logits(networks.discriminator,
                              d_params["discriminator"], noise, real)
  assert logits.shape == (6,)
  # Changing z changes D's output only through the dense layer's last rows.
  features_only = jax.tree.map(lambda a: a, d_params["discriminator"])
  features_only["params"]["Dense_0"]["kernel"] = dense.at[-3:].set(0.0)
  np.testing.assert_allclose(
      veegan.pair_logits(networks.discriminator, features_only, noise, real),
      veegan.pair_logits(networks.discriminator, features_only, 2 * noise,
                         real), rtol=1e-6)
  context = training.StepContext(step=jnp.zeros((), jnp.int32))
  (loss, (metrics, _)), grads = jax.jit(jax.value_and_grad(
      lambda g: method.generator_loss(g, d_params, (), real,
                                      jax.random.key(3), context, networks),
      has_aux=True))(g_params)
  assert np.isfinite(loss) and np.isfinite(metrics["reconstruction_loss"])
  for part in ("generator", "reconstructor"):
    assert any(np.any(leaf != 0) for leaf in jax.tree.leaves(grads[part]))
  d_loss, _ = method.discriminator_loss(
      d_params, g_params, (), real, jax.random.key(4), context, networks)
  assert np.isfinite(d_loss)


# --- GAN with neighbour embedding -------------------------------------------


def _t_similarities(points):
  squared = np.sum((points[:, None] - points[None]) ** 2, axis=-1)
  kernel = 1.0 / (1.0 + squared)
  np.fill_diagonal(kernel, 0.0)
  return kernel / kernel.sum()


@pytest.mark.parametrize("batch", [3, 17])
def test_neighbour_embedding_kl_matches_numpy(batch, debug_nans):
  rng = np.random.default_rng(batch)
  noise = rng.normal(size=(batch, 4))
  samples = 2.0 * rng.normal(size=(batch, 2))
  p, q = _t_similarities(noise), _t_similarities(samples)
  off = ~np.eye(batch, dtype=bool)
  expected = np.sum(p[off] * np.log(p[off] / q[off]))
  kl_and_grads = jax.jit(jax.value_and_grad(gne.neighbour_embedding_kl,
                                            argnums=(0, 1)))
  kl, (noise_grad, samples_grad) = kl_and_grads(
      noise.astype(np.float32), samples.astype(np.float32))
  np.testing.assert_allclose(kl, expected, rtol=1e-4, atol=1e-6)
  np.testing.assert_allclose(
      np.exp(gne.log_student_t_similarities(samples.astype(np.float32))), q,
      rtol=1e-4, atol=1e-7)
  # The gradient is finite and reaches G(z) only: P is a constant.
  assert np.all(np.isfinite(samples_grad)) and np.any(samples_grad != 0)
  np.testing.assert_array_equal(noise_grad, 0.0)
  # Same distances on both sides: no divergence.
  shifted, _ = kl_and_grads(noise[:, :2].astype(np.float32),
                            noise[:, :2].astype(np.float32) + 1.0)
  np.testing.assert_allclose(shifted, 0.0, atol=1e-6)


def test_neighbour_embedding_kl_of_two_points_is_zero():
  # Two points have one similarity, 1/2 on both sides: nothing to learn.
  kl = gne.neighbour_embedding_kl(jnp.array([[0.0], [1.0]]),
                                  jnp.array([[0.0, 0.0], [5.0, 5.0]]))
  np.testing.assert_allclose(kl, 0.0, atol=1e-7)


def test_neighbour_embedding_kl_flattens_images():
  noise = jax.random.normal(jax.random.key(0), (5, 3))
  images = jax.random.normal(jax.random.key(1), (5, 4, 4, 2))
  np.testing.assert_allclose(
      gne.neighbour_embedding_kl(noise, images),
      gne.neighbour_embedding_kl(noise, images.reshape(5, -1)), rtol=1e-6)


# --- BMS-VAE-GAN -------------------------------------------------------------


def test_best_of_many_picks_the_min_error_sample():
  data = np.array([[0.0, 0.0], [1.0, 1.0]])
  reconstructions = np.array([
      [[0.5, 0.5], [1.0, 1.2]],   # t = 0: errors 1.0, 0.2
      [[0.1, -0.1], [2.0, 2.0]],  # t = 1: errors 0.2, 2.0
      [[3.0, 0.0], [0.0, 1.0]],   # t = 2: errors 3.0, 1.0
  ])
  errors = bms_vae_gan.reconstruction_errors(data, reconstructions, kind="l1")
  np.testing.assert_allclose(
      errors, np.abs(reconstructions - data[None]).sum(-1), rtol=1e-6)
  best = bms_vae_gan.best_of_many(errors)
  np.testing.assert_array_equal(best.index, [1, 0])
  np.testing.assert_allclose(best.error, [0.2, 0.2], rtol=1e-6)
  squared = bms_vae_gan.reconstruction_errors(data, reconstructions,
                                              kind="l2")
  np.testing.assert_allclose(
      squared, ((reconstructions - data[None]) ** 2).sum(-1), rtol=1e-6)
  # Only the chosen sample of each point gets gradient.
  grad = jax.grad(lambda r: jnp.sum(bms_vae_gan.best_of_many(
      bms_vae_gan.reconstruction_errors(data, r)).error))(
          jnp.asarray(reconstructions))
  nonzero = np.any(np.asarray(grad) != 0, axis=-1)
  np.testing.assert_array_equal(nonzero, [[False, True], [True, False],
                                          [False, False]])


def test_bms_reconstruction_errors_sum_over_every_pixel():
  data = jax.random.normal(jax.random.key(0), (4, 3, 3, 2))
  reconstructions = jax.random.normal(jax.random.key(1), (5, 4, 3, 3, 2))
  for kind in bms_vae_gan.RECONSTRUCTION_KINDS:
    errors = bms_vae_gan.reconstruction_errors(data, reconstructions,
                                               kind=kind)
    assert errors.shape == (5, 4)
    np.testing.assert_allclose(
        errors, bms_vae_gan.reconstruction_errors(
            data.reshape(4, -1), reconstructions.reshape(5, 4, -1),
            kind=kind), rtol=1e-5)


def test_spectral_norm_conv_discriminator_ignores_kernel_scale():
  """D_I on images: every layer's kernel is divided by its spectral norm."""
  d = models.ConvDiscriminator(width=4, kernel_size=3, spectral_norm=True)
  x = jax.random.normal(jax.random.key(0), (3, 8, 8, 2))
  variables = d.init(jax.random.key(1), x)
  assert set(variables) == {"params", "batch_stats"}
  logits, updates = d.apply(variables, x, update_stats=True,
                            mutable=["batch_stats"])
  assert logits.shape == (3,)
  # u and sigma of each layer (2 convolutions on 8x8, the dense output),
  # refined by the power iteration.
  assert len(jax.tree.leaves(updates["batch_stats"])) == 6
  assert any(not np.allclose(a, b) for a, b in zip(
      jax.tree.leaves(updates["batch_stats"]),
      jax.tree.leaves(variables["batch_stats"])))
  # sigma scales with the kernel, so scaled kernels give the same D (and
  # change an unnormalised one).
  def scale_kernels(tree):
    return jax.tree_util.tree_map_with_path(
        lambda path, a: 10.0 * a if path[-1].key == "kernel" else a, tree)

  np.testing.assert_allclose(
      d.apply({**variables, "params": scale_kernels(variables["params"])}, x),
      d.apply(variables, x), rtol=1e-4, atol=1e-5)
  plain = models.ConvDiscriminator(width=4, kernel_size=3)
  plain_params = plain.init(jax.random.key(1), x)
  assert not np.allclose(plain.apply(scale_kernels(plain_params), x),
                         plain.apply(plain_params, x), rtol=1e-2)


def test_bms_generator_loss_uses_the_best_of_t():
  config = tiny_config("bms_vae_gan")
  experiment = mog.build_experiment(config)
  state = experiment.initial_state()
  method = experiment.trainer.method
  networks = experiment.trainer.networks
  real = jax.random.normal(jax.random.key(0), (8, 2))
  key = jax.random.key(1)
  context = training.StepContext(step=jnp.zeros((), jnp.int32))
  _, (metrics, new_state) = jax.jit(method.generator_loss, static_argnums=6)(
      state.generator_params, state.discriminator_params, state.method_state,
      real, key, context, networks)
  rec_key, _ = jax.random.split(key)
  reconstructions = method._reconstruct(  # pylint: disable=protected-access
      state.generator_params, real, rec_key, networks, None).reconstructions
  assert reconstructions.shape == (3, 8, 2)
  l1 = np.abs(np.asarray(reconstructions) - np.asarray(real)[None]).sum(-1)
  np.testing.assert_allclose(metrics["reconstruction_loss"],
                             l1.min(axis=0).mean(), rtol=1e-5)
  assert l1.min(axis=0).mean() < l1.mean()
  # The generator step refines D_I's power-iteration vectors.
  old = jax.tree.leaves(state.method_state.spectral_stats)
  new = jax.tree.leaves(new_state.spectral_stats)
  assert any(not np.allclose(a, b) for a, b in zip(old, new))


def test_bms_without_spectral_norm_is_a_plain_mlp_d_i():
  x = jax.random.normal(jax.random.key(0), (6, 2))
  plain = bms_vae_gan.SyntheticDiscriminator((5,), spectral_norm=False)
  variables = plain.init(jax.random.key(1), x, update_stats=False)
  assert set(variables) == {"params"}
  params = jax.tree.map(np.asarray, variables["params"])
  expected = (np.maximum(np.asarray(x) @ params["Dense_0"]["kernel"]
                         + params["Dense_0"]["bias"], 0.0)
              @ params["Dense_1"]["kernel"] + params["Dense_1"]["bias"])
  np.testing.assert_allclose(plain.apply(variables, x, update_stats=True),
                             expected[:, 0], rtol=1e-5, atol=1e-6)
  config = tiny_config("bms_vae_gan")
  config.methods.bms_vae_gan.spectral_norm = False
  experiment = mog.build_experiment(config)
  state = experiment.initial_state()
  assert not jax.tree.leaves(state.method_state.spectral_stats)
  assert (jax.tree.structure(experiment.template_state().method_state)
          == jax.tree.structure(state.method_state))
  new_state, metrics = jax.jit(
      experiment.trainer.train_steps, static_argnums=1)(state, 2)
  assert all(np.all(np.isfinite(v)) for v in metrics.values())
  assert not jax.tree.leaves(new_state.method_state.spectral_stats)


# --- DIW-GAN variants --------------------------------------------------------


def test_diw_variants_set_the_right_fields():
  config = tiny_config("diwgan")
  config.methods.diwgan_poster.loss_weight = 0.25
  fields = {}
  for name in registry.AUTOENCODER_METHODS:
    config.method = name
    method = registry.make_method(config, encode=lambda p, x: x)
    assert isinstance(method, methods.DIWGAN) and method.name == name
    fields[name] = (method.distance, method.alpha, method.random_matching,
                    method.use_generator_weights, method.use_target_weights)
  assert fields == {
      "diwgan": ("euclidean", 1.0, False, True, True),
      "diwgan_poster": ("sqeuclidean", 0.25, False, True, True),
      "diwgan_noweights": ("euclidean", 1.0, False, False, False),
      "diwgan_wg": ("euclidean", 1.0, False, True, False),
      "diwgan_wr": ("euclidean", 1.0, False, False, True),
      "diwgan_random_match": ("euclidean", 1.0, True, True, True),
  }


def test_diw_ablations_change_the_right_thing():
  """Two DIW terms per variant on fixed latents (identity encoder)."""
  config = tiny_config("diwgan")
  mixture = mog_data.make_mixture("ring")
  anchors = mog_data.sample_mixture(mixture, jax.random.key(0), 8)
  fakes = [0.5 * jax.random.normal(jax.random.key(i), (8, 2))
           for i in (1, 2)]
  context = training.StepContext(step=jnp.zeros((), jnp.int32))
  results = {}
  for name in registry.AUTOENCODER_METHODS:
    config.method = name
    method = registry.make_method(config, encode=lambda p, x: x)
    state = methods.init_diw_state((), anchors, history=4)

    def two_terms(state, method=method):
      out = []
      for i, fake in enumerate(fakes):
        term, metrics, state = method.diw_term(
            fake, state, jax.random.key(10 + i), context)
        out.append((term, metrics))
      return out

    results[name] = jax.device_get(two_terms(state))

  def weights(name):
    metrics = results[name][1][1]  # second step: buffers hold one step
    return (float(metrics["generator_weight_max"]),
            float(metrics["target_weight_max"]))

  assert weights("diwgan_noweights") == (1.0, 1.0)
  g_max, r_max = weights("diwgan_wg")
  assert g_max > 1.0 and r_max == 1.0
  g_max, r_max = weights("diwgan_wr")
  assert g_max == 1.0 and r_max > 1.0
  g_max, r_max = weights("diwgan")
  assert g_max > 1.0 and r_max > 1.0

  # First step (empty buffers, unit weights): the optimal pairing's mean
  # cost, euclidean for DIW-GAN and squared for the poster; random pairing
  # costs more.
  diff = np.asarray(anchors)[:, None] - np.asarray(fakes[0])[None]
  for name, cost in (("diwgan", np.sqrt((diff**2).sum(-1))),
                     ("diwgan_poster", (diff**2).sum(-1))):
    rows, cols = optimize.linear_sum_assignment(cost)
    np.testing.assert_allclose(results[name][0][0], cost[rows, cols].mean(),
                               rtol=1e-3)
  assert (results["diwgan_random_match"][0][1]["matched_distance"]
          > results["diwgan"][0][1]["matched_distance"])

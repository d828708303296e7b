"""`diwgan.diw_term`, the DIW term in one call, against its pieces."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.optimize

import diwgan
from diwgan import assignment
from diwgan import distances
from diwgan import importance
from diwgan import losses


def _problem(batch=32, dim=4, history=3, filled=2, seed=0):
  keys = jax.random.split(jax.random.key(seed), filled + 2)
  anchors = jax.random.normal(keys[0], (batch, dim))
  latents = jax.random.normal(keys[1], (batch, dim))
  state = importance.init_importance_state(history, batch, dim)
  for key in keys[2:]:
    past = jax.random.normal(key, (batch, dim))
    state = importance.update_importance_state(
        state, past, jnp.abs(past[:, 0]))
  return anchors, latents, state


def test_equals_the_chain_of_pieces():
  anchors, latents, state = _problem()
  term, new_state, aux = jax.jit(diwgan.diw_term)(anchors, latents, state)
  # The chain written out, as a user of the pieces would.
  cost = np.asarray(distances.pairwise_distances(anchors, latents), np.float64)
  _, columns = scipy.optimize.linear_sum_assignment(cost)
  generator_weights = importance.generator_weights(latents, state)
  target_weights = importance.target_weights(state)
  expected = np.mean(np.asarray(target_weights) *
                     np.asarray(generator_weights)[columns] *
                     cost[np.arange(len(cost)), columns])
  np.testing.assert_array_equal(aux.assignment, columns)
  np.testing.assert_allclose(term, expected, rtol=1e-5)
  np.testing.assert_allclose(aux.generator_weights, generator_weights)
  np.testing.assert_allclose(aux.target_weights, target_weights)
  np.testing.assert_allclose(aux.matched_distances,
                             cost[np.arange(len(cost)), columns], rtol=1e-5)
  assert bool(aux.converged)
  # This step is written into the buffers after the weights were read.
  assert int(new_state.count) == int(state.count) + 1
  np.testing.assert_array_equal(
      new_state.latents[int(state.position)], latents)


def test_gradient_flows_through_matched_distances_only():
  anchors, latents, state = _problem()

  def term(latents):
    return diwgan.diw_term(anchors, latents, state)[0]

  grad = jax.grad(term)(latents)
  _, _, aux = diwgan.diw_term(anchors, latents, state)
  weights = aux.target_weights * aux.generator_weights[aux.assignment]
  # d/ds ||a - s|| = (s - a) / ||s - a|| for the matched pairs, weighted.
  matched = latents[aux.assignment]
  direction = (matched - anchors) / jnp.linalg.norm(
      matched - anchors, axis=1, keepdims=True)
  expected = jnp.zeros_like(latents).at[aux.assignment].set(
      weights[:, None] * direction / len(anchors))
  np.testing.assert_allclose(grad, expected, rtol=1e-4, atol=1e-7)


def test_vmap_over_runs():
  problems = [_problem(seed=s) for s in range(3)]
  stacked = jax.tree.map(lambda *x: jnp.stack(x), *problems)
  terms, states, aux = jax.jit(jax.vmap(diwgan.diw_term))(*stacked)
  for i, problem in enumerate(problems):
    term, state, single = diwgan.diw_term(*problem)
    np.testing.assert_allclose(terms[i], term, rtol=1e-5)
    np.testing.assert_array_equal(aux.assignment[i], single.assignment)
    np.testing.assert_allclose(states.distances[i], state.distances,
                               rtol=1e-5)


@pytest.mark.parametrize("options", [
    {"use_generator_weights": False, "use_target_weights": False},
    {"distance": "sqeuclidean", "matcher": "hungarian"},
    {"matcher": "scipy"},
    {"auction_options": {"eps_final": 1e-3}},
])
def test_options_match_the_pieces(options):
  anchors, latents, state = _problem()
  term, _, aux = diwgan.diw_term(anchors, latents, state, **options)
  cost = distances.pairwise_distances(
      anchors, latents, kind=options.get("distance", "euclidean"))
  weighted = "use_target_weights" not in options
  expected = losses.matched_distance_loss(
      cost, aux.assignment,
      target_weights=(importance.target_weights(state) if weighted
                      else None),
      generator_weights=(importance.generator_weights(latents, state)
                         if weighted else None))
  np.testing.assert_allclose(term, expected, rtol=1e-6)
  optimum = assignment.scipy_assignment(cost).assignment
  np.testing.assert_allclose(
      assignment.assignment_cost(cost, aux.assignment),
      assignment.assignment_cost(cost, optimum), rtol=2e-3)


def test_random_matching_is_a_permutation_from_the_key():
  anchors, latents, state = _problem()
  _, _, first = diwgan.diw_term(anchors, latents, state,
                                random_matching_key=jax.random.key(3))
  _, _, again = diwgan.diw_term(anchors, latents, state,
                                random_matching_key=jax.random.key(3))
  np.testing.assert_array_equal(first.assignment, again.assignment)
  assert sorted(np.asarray(first.assignment).tolist()) == list(range(32))

"""`--config=<name>` with `--config.<field>=<value>` overrides.

ml_collections' config flags take a file path (`--config=path.py:name`);
here the flag takes just the name, resolved by a `get_config(name)` function,
and keeps the same dotted overrides.
"""

from typing import Callable

from absl import flags
import ml_collections
from ml_collections.config_flags import config_flags


class _NamedConfigParser(flags.ArgumentParser):
  """Parses a config name into the ConfigDict `get_config(name)` returns."""

  def __init__(self, get_config: Callable[[str], ml_collections.ConfigDict]):
    self._get_config = get_config

  def parse(self, argument):
    if isinstance(argument, ml_collections.ConfigDict):
      return argument
    return self._get_config(argument)

  def flag_type(self):
    return "config name"


def define_named_config(
    name: str,
    get_config: Callable[[str], ml_collections.ConfigDict],
    *,
    default: str,
    help_string: str,
    flag_values: flags.FlagValues = flags.FLAGS,
) -> flags.FlagHolder:
  """Defines `--<name>=<config name>` with dotted field overrides."""
  flag = config_flags._ConfigFlag(  # pylint: disable=protected-access
      parser=_NamedConfigParser(get_config),
      serializer=flags.ArgumentSerializer(),
      name=name,
      default=default,
      help_string=help_string,
      flag_values=flag_values,
  )
  return flags.DEFINE_flag(flag, flag_values)

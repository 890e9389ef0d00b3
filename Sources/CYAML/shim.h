// libyaml's event parser: the agent reads YAML without Foundation, keeping line and column of every node.
#include <yaml.h>

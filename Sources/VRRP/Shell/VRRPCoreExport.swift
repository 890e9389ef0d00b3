// The shell re-exports its core: `import VRRP` gives the driver's users the core's values (members, actions,
// settings) without a second import, and every file of this shell sees the core it carries out.
@_exported import VRRPCore

"""Node files for libvirt's test driver: N hypervisor hosts, each a ``<node>`` of ``<domain type='test'>`` entries.

A test opens one host as ``test:///ABS/DIR/host-01.xml`` (in-process) or through the dev libvirtd as
``test+tcp://127.0.0.1/ABS/DIR/host-01.xml`` / ``test+tls://127.0.0.1/ABS/DIR/host-01.xml?pkipath=...``. The output
is deterministic from ``--seed``: the same arguments always give byte-identical files, so tests can assert exact
UUIDs, sizes and owners. ``manifest.json`` beside the XML files lists what every host holds, so tests need not parse
the XML to know what to expect.

Per host, ``--domains`` domains: ``--unknown`` of them carry no Nova metadata (named ``unmanaged-HH-NN``, not in any
project), the others carry Nova's ``<nova:instance>`` (namespace 1.1) with ``nova:name``, a flavor and
``nova:owner/nova:project uuid``, and are named like Nova names them (``instance-0000002a``). ``--shutoff`` of each
host's domains are shut off (``<test:runstate>5</test:runstate>``); the rest run. Only the Python standard library.
"""

import argparse
import json
import random
import sys
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

NOVA_NS = "http://openstack.org/xmlns/libvirt/nova/1.1"
TEST_NS = "http://libvirt.org/schemas/domain/test/1.0"
RUNSTATE_SHUTOFF = 5  # virDomainState VIR_DOMAIN_SHUTOFF, as the test driver reads <test:runstate>

# name, vCPUs, memory MiB, root disk GiB: the usual OpenStack m1 family
FLAVORS = (
    ("m1.tiny", 1, 512, 1),
    ("m1.small", 1, 2048, 20),
    ("m1.medium", 2, 4096, 40),
    ("m1.large", 4, 8192, 80),
    ("m1.xlarge", 8, 16384, 160),
)


@dataclass(frozen=True)
class Domain:
    """One test-driver domain as a test should expect to read it back."""

    name: str
    uuid: str
    state: str  # "running" or "shutoff"
    vcpus: int
    memory_kib: int
    disk_gib: int
    disk_path: str
    mac: str
    flavor: str
    project_uuid: str | None  # None: no Nova metadata at all
    project_name: str | None
    user_uuid: str | None
    nova_name: str | None


@dataclass(frozen=True)
class Host:
    """One node file: the host's capacity and its domains."""

    name: str
    file: str
    uri: str
    cpus: int
    memory_kib: int
    domains: list[Domain]


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _mac(rng: random.Random) -> str:
    return "fa:16:3e:" + ":".join(f"{rng.randrange(256):02x}" for _ in range(3))  # Nova's MAC prefix


def build_hosts(args: argparse.Namespace, out: Path) -> list[Host]:
    """Draw every host and domain from one seeded generator, in a fixed order."""
    rng = random.Random(args.seed)  # noqa: S311 - reproducible test data, not secrets
    projects = [(_uuid(rng), f"project-{i + 1:02d}") for i in range(args.projects)]
    users = [_uuid(rng) for _ in range(args.projects)]
    hosts: list[Host] = []
    instance_id = 0
    for h in range(1, args.hosts + 1):
        host_name = f"host-{h:02d}"
        path = out / f"{host_name}.xml"
        shutoff = set(rng.sample(range(args.domains), args.shutoff))
        unknown = set(rng.sample(range(args.domains), args.unknown))
        domains = []
        for d in range(args.domains):
            flavor, vcpus, mem_mib, disk_gib = rng.choice(FLAVORS)
            dom_uuid = _uuid(rng)
            mac = _mac(rng)
            state = "shutoff" if d in shutoff else "running"
            if d in unknown:
                name = f"unmanaged-{h:02d}-{d + 1:02d}"
                project = user = nova_name = project_name = None
            else:
                instance_id += 1
                name = f"instance-{instance_id:08x}"
                p = rng.randrange(len(projects))
                project, project_name = projects[p]
                user = users[p]
                nova_name = f"vm-{h:02d}-{d + 1:02d}"
            domains.append(
                Domain(
                    name=name,
                    uuid=dom_uuid,
                    state=state,
                    vcpus=vcpus,
                    memory_kib=mem_mib * 1024,
                    disk_gib=disk_gib,
                    disk_path=f"/var/lib/nova/instances/{dom_uuid}/disk",
                    mac=mac,
                    flavor=flavor,
                    project_uuid=project,
                    project_name=project_name,
                    user_uuid=user,
                    nova_name=nova_name,
                )
            )
        hosts.append(
            Host(
                name=host_name,
                file=str(path),
                uri=f"test://{path}",
                cpus=args.host_cpus,
                memory_kib=args.host_memory_gib * 1024 * 1024,
                domains=domains,
            )
        )
    return hosts


def nova_metadata(d: Domain) -> str:
    """Nova's libvirt driver writes this block (nova/virt/libvirt/config.py, LibvirtConfigGuestMetaNovaInstance)."""
    flavor = next(f for f in FLAVORS if f[0] == d.flavor)
    return f"""    <metadata>
      <nova:instance xmlns:nova="{NOVA_NS}">
        <nova:package version="27.0.0"/>
        <nova:name>{escape(d.nova_name or "")}</nova:name>
        <nova:creationTime>2024-01-01 00:00:00</nova:creationTime>
        <nova:flavor name={quoteattr(d.flavor)}>
          <nova:memory>{flavor[2]}</nova:memory>
          <nova:disk>{flavor[3]}</nova:disk>
          <nova:swap>0</nova:swap>
          <nova:ephemeral>0</nova:ephemeral>
          <nova:vcpus>{flavor[1]}</nova:vcpus>
        </nova:flavor>
        <nova:owner>
          <nova:user uuid="{d.user_uuid}">user-of-{escape(d.project_name or "")}</nova:user>
          <nova:project uuid="{d.project_uuid}">{escape(d.project_name or "")}</nova:project>
        </nova:owner>
        <nova:root type="image" uuid="00000000-0000-4000-8000-000000000001"/>
      </nova:instance>
    </metadata>
"""


def domain_xml(d: Domain) -> str:
    meta = nova_metadata(d) if d.project_uuid else ""
    runstate = f"    <test:runstate>{RUNSTATE_SHUTOFF}</test:runstate>\n" if d.state == "shutoff" else ""
    return f"""  <domain type='test' xmlns:test='{TEST_NS}'>
    <name>{d.name}</name>
    <uuid>{d.uuid}</uuid>
{meta}    <memory unit='KiB'>{d.memory_kib}</memory>
    <currentMemory unit='KiB'>{d.memory_kib}</currentMemory>
    <vcpu placement='static'>{d.vcpus}</vcpu>
    <os>
      <type arch='x86_64'>hvm</type>
    </os>
    <devices>
      <disk type='file' device='disk'>
        <source file='{d.disk_path}'/>
        <target dev='vda' bus='virtio'/>
      </disk>
      <interface type='ethernet'>
        <mac address='{d.mac}'/>
        <target dev='tap{d.uuid[:11]}'/>
        <model type='virtio'/>
      </interface>
    </devices>
{runstate}  </domain>
"""


def node_xml(host: Host) -> str:
    sockets, threads = 2, 2
    cores = max(1, host.cpus // (sockets * threads))
    body = "".join(domain_xml(d) for d in host.domains)
    return f"""<?xml version='1.0'?>
<!-- {host.name}: generated by deploy/dev/libvirt/make_nodes.py; do not edit -->
<node>
  <cpu>
    <mhz>2400</mhz>
    <model>x86_64</model>
    <nodes>1</nodes>
    <sockets>{sockets}</sockets>
    <cores>{cores}</cores>
    <threads>{threads}</threads>
    <active>{sockets * cores * threads}</active>
  </cpu>
  <memory>{host.memory_kib}</memory>
{body}</node>
"""


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--hosts", type=int, default=3, help="node files to write (default 3)")
    p.add_argument("--domains", type=int, default=10, help="domains per host, all kinds (default 10)")
    p.add_argument("--unknown", type=int, default=1, help="of those, domains without Nova metadata (default 1)")
    p.add_argument("--shutoff", type=int, default=None, help="of those, shut-off domains (default domains // 5)")
    p.add_argument("--projects", type=int, default=3, help="distinct Nova projects owning domains (default 3)")
    p.add_argument("--host-cpus", type=int, default=32, help="logical CPUs per host (default 32)")
    p.add_argument("--host-memory-gib", type=int, default=256, help="memory per host in GiB (default 256)")
    p.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    p.add_argument("--out", type=Path, required=True, help="directory for host-NN.xml and manifest.json")
    args = p.parse_args(argv)
    if args.shutoff is None:
        args.shutoff = args.domains // 5
    if args.hosts < 1 or args.domains < 0 or args.projects < 1 or args.host_cpus < 4 or args.host_memory_gib < 1:
        p.error("--hosts and --projects must be >= 1, --domains >= 0, --host-cpus >= 4, --host-memory-gib >= 1")
    if not 0 <= args.unknown <= args.domains or not 0 <= args.shutoff <= args.domains:
        p.error("--unknown and --shutoff must be between 0 and --domains")
    return args


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    out = args.out.resolve()  # the test driver wants an absolute path in the URI
    out.mkdir(parents=True, exist_ok=True)
    hosts = build_hosts(args, out)
    for host in hosts:
        Path(host.file).write_text(node_xml(host), encoding="utf-8")
    manifest = {
        "generator": "deploy/dev/libvirt/make_nodes.py",
        "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "nova_namespace": NOVA_NS,
        "hosts": [asdict(h) for h in hosts],
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    total = sum(len(h.domains) for h in hosts)
    print(f"wrote {len(hosts)} node files with {total} domains and manifest.json to {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

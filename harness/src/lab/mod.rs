//! The shared workbench of the commands: the private sandbox, named
//! namespaces, the two-namespace topology, ports with either backend,
//! forwarder sizing, the plain read()/write() forwarder baseline, kernel-side traffic sources, the TCP load generator,
//! CPU accounting, the hypervisor's steal time and what commands write (JSON, the machine's facts).

pub mod cpu;
pub mod forwarder_setup;
pub mod namespaces;
pub mod output;
pub mod plain_forwarder;
pub mod ports;
pub mod sandbox;
pub mod steal;
pub mod tcp_load;
pub mod tokio_forwarder;
pub mod topology;
pub mod traffic;

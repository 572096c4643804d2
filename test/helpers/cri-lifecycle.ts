// The CRI sandbox and container lifecycle, which only the tests call (Kive itself asks
// the runtime about containers, never creates one): these runtime.v1 messages are parsed
// into the same root as src/runtime/cri-proto.ts and their methods added to its
// RuntimeService, since a second `service RuntimeService` block would be a duplicate
// name to protobufjs. Field numbers are runtime.v1's (k8s.io/cri-api api.proto).

import protobuf from 'protobufjs';
import type { PackageDefinition } from '@grpc/proto-loader';
import { criDefinitionOf, criRoot } from '../../src/runtime/cri.ts';

const LIFECYCLE_MESSAGES = `
syntax = "proto3";
package runtime.v1;

enum NamespaceMode {
  POD = 0;
  CONTAINER = 1;
  NODE = 2;
  TARGET = 3;
}
message NamespaceOption {
  NamespaceMode network = 1;
  NamespaceMode pid = 2;
  NamespaceMode ipc = 3;
}
message LinuxSandboxSecurityContext { NamespaceOption namespace_options = 1; }
message LinuxPodSandboxConfig {
  string cgroup_parent = 1;
  LinuxSandboxSecurityContext security_context = 2;
}
message PodSandboxMetadata {
  string name = 1;
  string uid = 2;
  string namespace = 3;
  uint32 attempt = 4;
}
message PodSandboxConfig {
  PodSandboxMetadata metadata = 1;
  string hostname = 2;
  string log_directory = 3;
  map<string, string> labels = 6;
  map<string, string> annotations = 7;
  LinuxPodSandboxConfig linux = 8;
}
message RunPodSandboxRequest { PodSandboxConfig config = 1; string runtime_handler = 2; }
message RunPodSandboxResponse { string pod_sandbox_id = 1; }
message StopPodSandboxRequest { string pod_sandbox_id = 1; }
message StopPodSandboxResponse {}
message RemovePodSandboxRequest { string pod_sandbox_id = 1; }
message RemovePodSandboxResponse {}

message KeyValue { string key = 1; string value = 2; }
message LinuxContainerSecurityContext { NamespaceOption namespace_options = 3; }
message LinuxContainerConfig { LinuxContainerSecurityContext security_context = 2; }
message ContainerConfig {
  ContainerMetadata metadata = 1;
  ImageSpec image = 2;
  repeated string command = 3;
  repeated string args = 4;
  string working_dir = 5;
  repeated KeyValue envs = 6;
  map<string, string> labels = 9;
  map<string, string> annotations = 10;
  string log_path = 11;
  LinuxContainerConfig linux = 15;
}
message CreateContainerRequest {
  string pod_sandbox_id = 1;
  ContainerConfig config = 2;
  PodSandboxConfig sandbox_config = 3;
}
message CreateContainerResponse { string container_id = 1; }
message StartContainerRequest { string container_id = 1; }
message StartContainerResponse {}
message StopContainerRequest { string container_id = 1; int64 timeout = 2; }
message StopContainerResponse {}
message RemoveContainerRequest { string container_id = 1; }
message RemoveContainerResponse {}
`;

const LIFECYCLE_METHODS = ['RunPodSandbox', 'StopPodSandbox', 'RemovePodSandbox', 'CreateContainer', 'StartContainer', 'StopContainer', 'RemoveContainer'];

let definition: PackageDefinition | undefined;

/** Kive's runtime.v1 package plus the lifecycle calls; pass it to CriClient.connect. */
export function criLifecycleDefinition(): PackageDefinition {
  if (definition === undefined) {
    const root = criRoot();
    protobuf.parse(LIFECYCLE_MESSAGES, root, { keepCase: false });
    const service = root.lookupService('runtime.v1.RuntimeService');
    for (const m of LIFECYCLE_METHODS) service.add(new protobuf.Method(m, 'rpc', `${m}Request`, `${m}Response`));
    root.resolveAll();
    definition = criDefinitionOf(root);
  }
  return definition;
}

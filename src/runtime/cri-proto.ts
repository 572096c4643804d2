// The part of the CRI API (k8s.io/cri-api, pkg/apis/runtime/v1/api.proto, package
// runtime.v1) that Kive uses. No npm package ships it, and `tsc` only emits .js, so the
// proto text lives here and is parsed at run time. Field numbers and enum values are
// those of runtime.v1 and must never be renumbered; fields Kive does not read are
// simply absent (protobuf skips unknown fields on decode).
//
// Kive calls Version, ContainerStatus and ListContainers, nothing else. The tests' sandbox
// and container lifecycle calls live in test/helpers/cri-lifecycle.ts, which adds them to
// this service.

export const CRI_PROTO = `
syntax = "proto3";
package runtime.v1;

service RuntimeService {
  rpc Version(VersionRequest) returns (VersionResponse) {}
  rpc ContainerStatus(ContainerStatusRequest) returns (ContainerStatusResponse) {}
  rpc ListContainers(ListContainersRequest) returns (ListContainersResponse) {}
}

message VersionRequest { string version = 1; }
message VersionResponse {
  string version = 1;
  string runtime_name = 2;
  string runtime_version = 3;
  string runtime_api_version = 4;
}

enum ContainerState {
  CONTAINER_CREATED = 0;
  CONTAINER_RUNNING = 1;
  CONTAINER_EXITED = 2;
  CONTAINER_UNKNOWN = 3;
}

message ContainerMetadata { string name = 1; uint32 attempt = 2; }
message ImageSpec { string image = 1; map<string, string> annotations = 2; }

message ContainerStatusRequest { string container_id = 1; bool verbose = 2; }
message ContainerStatus {
  string id = 1;
  ContainerMetadata metadata = 2;
  ContainerState state = 3;
  int64 created_at = 4;
  int64 started_at = 5;
  int64 finished_at = 6;
  int32 exit_code = 7;
  ImageSpec image = 8;
  string image_ref = 9;
  string reason = 10;
  string message = 11;
  map<string, string> labels = 12;
  map<string, string> annotations = 13;
}
message ContainerStatusResponse {
  ContainerStatus status = 1;
  // Verbose only: runtime-specific JSON values. containerd and CRI-O put
  // {"pid": <task pid>, "sandboxID": ..., ...} under the key "info".
  map<string, string> info = 2;
}

message ContainerStateValue { ContainerState state = 1; }
message ContainerFilter {
  string id = 1;
  ContainerStateValue state = 2;
  string pod_sandbox_id = 3;
  map<string, string> label_selector = 4;
}
message ListContainersRequest { ContainerFilter filter = 1; }
message Container {
  string id = 1;
  string pod_sandbox_id = 2;
  ContainerMetadata metadata = 3;
  ImageSpec image = 4;
  string image_ref = 5;
  ContainerState state = 6;
  int64 created_at = 7;
  map<string, string> labels = 8;
  map<string, string> annotations = 9;
}
message ListContainersResponse { repeated Container containers = 1; }
`;

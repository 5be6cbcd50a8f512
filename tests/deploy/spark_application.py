"""SparkApplication (sparkoperator.k8s.io/v1beta2) fields, from the Spark Operator's API docs."""

from __future__ import annotations

SPARK_APPLICATION_FIELDS = {
    "type", "sparkVersion", "mode", "proxyUser", "image", "imagePullPolicy", "imagePullSecrets",
    "mainClass", "mainApplicationFile", "arguments", "sparkConf", "hadoopConf",
    "sparkConfigMap", "hadoopConfigMap", "volumes", "driver", "executor", "deps",
    "restartPolicy", "nodeSelector", "failureRetries", "retryInterval", "pythonVersion",
    "memoryOverheadFactor", "monitoring", "batchScheduler", "timeToLiveSeconds",
    "batchSchedulerOptions", "sparkUIOptions", "driverIngressOptions", "dynamicAllocation",
}  # fmt: skip
POD_FIELDS = {
    "cores", "coreLimit", "memory", "memoryOverhead", "gpu", "image", "configMaps", "secrets",
    "env", "envFrom", "labels", "annotations", "volumeMounts", "affinity", "tolerations",
    "podSecurityContext", "securityContext", "schedulerName", "sidecars", "initContainers",
    "hostNetwork", "nodeSelector", "dnsConfig", "terminationGracePeriodSeconds",
    "serviceAccount", "hostAliases", "shareProcessNamespace", "template",
}  # fmt: skip
DRIVER_FIELDS = POD_FIELDS | {
    "podName", "coreRequest", "javaOptions", "lifecycle", "kubernetesMaster",
    "serviceAnnotations", "serviceLabels", "ports",
}  # fmt: skip
EXECUTOR_FIELDS = POD_FIELDS | {
    "instances", "coreRequest", "javaOptions", "deleteOnTermination", "ports",
    "priorityClassName",
}  # fmt: skip
RESTART_FIELDS = {"type", "onSubmissionFailureRetries", "onFailureRetries",
                  "onSubmissionFailureRetryInterval", "onFailureRetryInterval"}  # fmt: skip

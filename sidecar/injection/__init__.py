"""The sidecar injection webhook: AdmissionReview server, pod patch and annotations."""

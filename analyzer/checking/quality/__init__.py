"""Model quality: join late labels to captured predictions, SageMaker's metrics, estimates."""

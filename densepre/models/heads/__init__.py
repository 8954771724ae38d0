from .loca_cluster_head import LOCAClusterHead
from .loca_position_head import LOCAPositionHead

__all__ = ['LOCAClusterHead', 'LOCAPositionHead']

from .loca_cluster_head import LOCAClusterHead
from .loca_position_head import LOCAPositionHead
from .nmhsa import NMHSAPredictor

__all__ = ['LOCAClusterHead', 'LOCAPositionHead', 'NMHSAPredictor']

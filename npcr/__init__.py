"""npcr: neural point-cloud rendering (NPCR) with antialiased U-Nets and temporal refinement."""
__version__ = "0.1.0"

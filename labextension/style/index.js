import './base.css';
import './features.css';
import './experiments.css';
import './pipeline.css';
import './review.css';
import './review-images.css';
import './deploy.css';
import './monitor.css';

// The console's frame: routes (in the URL's fragment, so that /, /assets and /docs are the
// only paths the console takes from the platform's path space; decision 91), the navigation,
// the theme switch and the signed-in user.
import { useState, type JSX } from "react";
import { HashRouter, NavLink, Navigate, Route, Routes, useLocation, useParams } from "react-router-dom";
import { AuthProvider, useAuth } from "./auth";
import { applyTheme, initialTheme, type Theme } from "./theme";
import { LoginPage } from "./pages/Login";
import { HomePage } from "./pages/Home";
import { ModelsPage } from "./pages/Models";
import { ModelPage } from "./pages/Model";
import { VersionPage } from "./pages/Version";
import { DeploymentsPage } from "./pages/Deployments";
import { DeploymentPage } from "./pages/Deployment";
import { PlaygroundPage } from "./pages/Playground";
import { GatewayPage } from "./pages/Gateway";
import { MqPage } from "./pages/Mq";
import { CronPage } from "./pages/Cron";
import { JobPage, JobsPage } from "./pages/Jobs";
import { NodesPage } from "./pages/Nodes";
import { DatasetPage, DatasetVersionPage, DatasetsPage } from "./pages/Datasets";
import { CollectorPage, CollectorsPage } from "./pages/Collectors";
import { CompareRunsPage, ExperimentPage, ExperimentsPage, RunPage } from "./pages/Tracking";
import { PipelinePage, PipelineRunPage, PipelinesPage } from "./pages/Pipelines";
import { SearchIndexPage, SearchIndexesPage } from "./pages/Search";
import { AssistBotPage, AssistBotsPage, AssistInboxPage } from "./pages/Assist";
import { RecommendAppPage, RecommendAppsPage } from "./pages/Recommend";
import { CubePage, CubesPage } from "./pages/Cube";
import { MiningJobPage, MiningJobsPage } from "./pages/Analysis";
import { LabellingProjectPage, LabellingProjectsPage } from "./pages/Labelling";
import { UsageAlertsPage, UsagePage } from "./pages/Usage";
import { AnnotatePage } from "./pages/Annotate";
import { BehaviorProjectPage, BehaviorProjectsPage } from "./pages/Behavior";
import { CrowdStreamPage, CrowdStreamsPage } from "./pages/Crowd";
import { AdminPage } from "./pages/Admin";

// A page made anew for each :name (or :id), so that nothing of one deployment's page (its charts'
// history, a pending canary weight) carries over to the next one's.
function Keyed({ page: Page }: { page: () => JSX.Element }) {
  const { name, id } = useParams();
  return <Page key={name ?? id} />;
}

const NAV: [string, string][] = [
  ["/", "Home"],
  ["/models", "Models"],
  ["/deployments", "Deployments"],
  ["/playground", "Playground"],
  ["/datasets", "Datasets"],
  ["/collectors", "Collectors"],
  ["/experiments", "Experiments"],
  ["/pipelines", "Pipelines"],
  ["/search", "Search"],
  ["/assist", "Customer service"],
  ["/recommend", "Recommendation"],
  ["/cubes", "Cubes"],
  ["/analysis", "Analysis"],
  ["/labelling", "Labelling"],
  ["/usage", "Usage"],
  ["/behavior", "Behaviour"],
  ["/crowd", "Crowd"],
  ["/gateway", "Gateway"],
  ["/mq", "Message queue"],
  ["/cron", "Scheduled jobs"],
  ["/jobs", "Jobs"],
  ["/nodes", "Nodes"],
  ["/admin", "Administration"],
];

function Frame() {
  const { me, ready, logout } = useAuth();
  const location = useLocation();
  const [theme, setTheme] = useState<Theme>(initialTheme());
  const [menu, setMenu] = useState(false);
  if (!ready) return null;
  if (!me) return <Navigate to="/login" replace state={{ from: location.pathname }} />;
  const flip = () => {
    const t = theme === "dark" ? "light" : "dark";
    applyTheme(t);
    setTheme(t);
  };
  return (
    <div className="frame">
      <header className="topbar">
        <button className="menu-button" aria-label="Menu" onClick={() => setMenu(!menu)}>
          ☰
        </button>
        <span className="brand">AI Mass</span>
        <nav className={menu ? "open" : ""} onClick={() => setMenu(false)}>
          {NAV.map(([to, label]) => (
            <NavLink key={to} to={to} end={to === "/"}>
              {label}
            </NavLink>
          ))}
          <a href="/docs" target="_blank" rel="noreferrer">
            API
          </a>
        </nav>
        <span className="spacer" />
        <button className="link" onClick={flip} aria-label="Switch theme" title="Switch theme">
          {theme === "dark" ? "☀" : "☾"}
        </button>
        <span className="user" data-testid="user">
          {me.username}
        </span>
        <button className="link" onClick={() => void logout()}>
          Sign out
        </button>
      </header>
      <main>
        <Routes>
          <Route path="/" element={<HomePage />} />
          <Route path="/models" element={<ModelsPage />} />
          <Route path="/models/:name" element={<ModelPage />} />
          <Route path="/models/:name/versions/:version" element={<VersionPage />} />
          <Route path="/deployments" element={<DeploymentsPage />} />
          <Route path="/deployments/:name" element={<Keyed page={DeploymentPage} />} />
          <Route path="/playground" element={<PlaygroundPage />} />
          <Route path="/datasets" element={<DatasetsPage />} />
          <Route path="/datasets/:name" element={<Keyed page={DatasetPage} />} />
          <Route path="/datasets/:name/versions/:version" element={<DatasetVersionPage />} />
          <Route path="/collectors" element={<CollectorsPage />} />
          <Route path="/collectors/:name" element={<Keyed page={CollectorPage} />} />
          <Route path="/experiments" element={<ExperimentsPage />} />
          <Route path="/experiments/:name" element={<Keyed page={ExperimentPage} />} />
          <Route path="/runs/compare" element={<CompareRunsPage />} />
          <Route path="/runs/:id" element={<Keyed page={RunPage} />} />
          <Route path="/pipelines" element={<PipelinesPage />} />
          <Route path="/pipelines/:name" element={<Keyed page={PipelinePage} />} />
          <Route path="/pipeline-runs/:id" element={<Keyed page={PipelineRunPage} />} />
          <Route path="/search" element={<SearchIndexesPage />} />
          <Route path="/search/:name" element={<Keyed page={SearchIndexPage} />} />
          <Route path="/assist" element={<AssistBotsPage />} />
          <Route path="/assist/inbox" element={<AssistInboxPage />} />
          <Route path="/assist/bots/:name" element={<Keyed page={AssistBotPage} />} />
          <Route path="/recommend" element={<RecommendAppsPage />} />
          <Route path="/recommend/apps/:name" element={<Keyed page={RecommendAppPage} />} />
          <Route path="/cubes" element={<CubesPage />} />
          <Route path="/cubes/:name" element={<Keyed page={CubePage} />} />
          <Route path="/analysis" element={<MiningJobsPage />} />
          <Route path="/analysis/mining/:id" element={<Keyed page={MiningJobPage} />} />
          <Route path="/labelling" element={<LabellingProjectsPage />} />
          <Route path="/labelling/:name" element={<Keyed page={LabellingProjectPage} />} />
          <Route path="/labelling/:name/annotate" element={<Keyed page={AnnotatePage} />} />
          <Route path="/usage" element={<UsagePage />} />
          <Route path="/usage/alerts" element={<UsageAlertsPage />} />
          <Route path="/behavior" element={<BehaviorProjectsPage />} />
          <Route path="/behavior/:name/*" element={<Keyed page={BehaviorProjectPage} />} />
          <Route path="/crowd" element={<CrowdStreamsPage />} />
          <Route path="/crowd/:name" element={<Keyed page={CrowdStreamPage} />} />
          <Route path="/gateway" element={<GatewayPage />} />
          <Route path="/mq" element={<MqPage />} />
          <Route path="/cron" element={<CronPage />} />
          <Route path="/jobs" element={<JobsPage />} />
          <Route path="/jobs/:name" element={<Keyed page={JobPage} />} />
          <Route path="/nodes" element={<NodesPage />} />
          <Route path="/admin" element={<AdminPage />} />
          <Route path="*" element={<p>No such page.</p>} />
        </Routes>
      </main>
    </div>
  );
}

export function App() {
  return (
    <AuthProvider>
      <HashRouter>
        <Routes>
          <Route path="/login" element={<LoginPage />} />
          <Route path="/*" element={<Frame />} />
        </Routes>
      </HashRouter>
    </AuthProvider>
  );
}

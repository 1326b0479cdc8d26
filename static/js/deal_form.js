// The new-deal form: the stage list offers only the chosen pipeline's stages. All stages
// stay in the page, grouped by pipeline, for browsers without JavaScript; the server
// checks the stage belongs to the pipeline either way.
(() => {
  const pipeline = document.getElementById("id_pipeline");
  const stage = document.getElementById("id_stage");
  if (!pipeline || !stage) {
    return;
  }
  const showStagesOfPipeline = () => {
    const name = pipeline.selectedOptions[0]?.text;
    for (const group of stage.querySelectorAll("optgroup")) {
      const other = group.label !== name;
      group.hidden = other;
      group.disabled = other;
      if (other && group.contains(stage.selectedOptions[0])) {
        stage.value = "";
      }
    }
  };
  pipeline.addEventListener("change", showStagesOfPipeline);
  showStagesOfPipeline();
})();
